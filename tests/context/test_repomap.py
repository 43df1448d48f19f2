"""The repository map section: built from the real code index over real git repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from patchloop.config import ContextSettings
from patchloop.context import repomap
from patchloop.context.repomap import DEFAULT_REPO_MAP_TOKENS, build_repo_map, repo_map_budget
from patchloop.context.tokens import estimate_tokens

pytest.importorskip("tree_sitter_language_pack")

FILES = {
    "shop/__init__.py": "",
    "shop/catalog.py": 'PRICES = {"plum": 25}\n\n\ndef price(name):\n    return PRICES[name]\n',
    "shop/cart.py": (
        "from shop.catalog import price\n\n\nclass Cart:\n    def __init__(self):\n"
        "        self.items = []\n\n    def total(self):\n"
        "        return sum(price(n) for n in self.items)\n"
    ),
    "shop/shipping.py": "def shipping(total):\n    return 0 if total > 100 else 15\n",
    "tests/test_cart.py": "from shop.cart import Cart\n\n\ndef test_total():\n    assert Cart()\n",
    "README.md": "# shop\n",
}


@pytest.fixture
def shop(repo_factory: Callable[..., Path]) -> Path:
    return repo_factory("shop", FILES)


def build(
    repo: Path,
    store: Path,
    *,
    focus: str = "Cart.total uses price of the catalog",
    budget_tokens: int = 512,
) -> repomap.RepoMap:
    return build_repo_map(
        repo,
        sorted(FILES),
        shown=["shop/cart.py", "tests/test_cart.py"],
        focus=focus,
        budget_tokens=budget_tokens,
        store_dir=store,
    )


def test_map_lists_definitions_of_files_not_shown(shop: Path, tmp_path: Path) -> None:
    result = build(shop, tmp_path / "index")
    assert result.note == ""
    assert "shop/catalog.py:\n    4: def price(name):\n" in result.text
    assert "shop/shipping.py:\n    1: def shipping(total):\n" in result.text
    assert "shop/cart.py" not in result.text  # shown in full already
    assert "README" not in result.text


def test_map_ranks_toward_what_the_task_mentions(shop: Path, tmp_path: Path) -> None:
    toward_price = build(shop, tmp_path / "index", focus="price catalog PRICES")
    toward_shipping = build(shop, tmp_path / "index", focus="shipping shop/shipping.py")
    assert toward_price.text.index("shop/catalog.py") < toward_price.text.index("shop/shipping")
    assert toward_shipping.text.index("shop/shipping") < toward_shipping.text.index("catalog")


def test_map_is_byte_identical_across_builds(shop: Path, tmp_path: Path) -> None:
    first = build(shop, tmp_path / "index")
    second = build(shop, tmp_path / "index")
    fresh_store = build(shop, tmp_path / "other-index")
    assert first.text == second.text == fresh_store.text
    assert first.text


def test_map_stays_within_its_budget(shop: Path, tmp_path: Path) -> None:
    whole = build(shop, tmp_path / "index")
    small = build(shop, tmp_path / "index", budget_tokens=estimate_tokens(whole.text) - 1)
    assert small.text
    assert estimate_tokens(small.text) < estimate_tokens(whole.text)
    assert whole.text.startswith(small.text.split("\n", 1)[0])


def test_project_in_a_subdirectory_gets_project_relative_paths(
    repo_factory: Callable[..., Path], tmp_path: Path
) -> None:
    mono = repo_factory(
        "mono", {**{f"app/{k}": v for k, v in FILES.items()}, "lib/x.py": "def x(): ...\n"}
    )
    result = build_repo_map(
        mono / "app",
        sorted(FILES),
        shown=["shop/cart.py"],
        focus="price",
        budget_tokens=512,
        store_dir=tmp_path / "index",
    )
    assert "shop/catalog.py:" in result.text
    assert "app/" not in result.text
    assert "lib/x.py" not in result.text


def test_no_map_needed_when_every_file_is_shown(tmp_path: Path) -> None:
    # Not even a repository: nothing is indexed when no file would appear in the map.
    result = build_repo_map(
        tmp_path, ["a.py", "notes.txt"], shown=["a.py"], focus="", budget_tokens=512
    )
    assert result == repomap.RepoMap()


def test_zero_budget_turns_the_map_off(shop: Path, tmp_path: Path) -> None:
    assert build(shop, tmp_path / "index", budget_tokens=0) == repomap.RepoMap()


def test_not_a_repository_degrades_to_a_note(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("def a(): ...\n")
    result = build_repo_map(
        plain, ["a.py"], shown=[], focus="", budget_tokens=512, store_dir=tmp_path / "i"
    )
    assert result.text == ""
    assert "not inside a git work tree" in result.note


def test_missing_index_extra_degrades_to_a_note(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repomap, "MAP_MODULES", ("patchloop_no_such_module",))
    result = build(shop, tmp_path / "index")
    assert result.text == ""
    assert result.note == "no repo map: install patchloop[index] (patchloop_no_such_module)"
    assert not (tmp_path / "index").exists()


def test_huge_repository_is_skipped_with_a_note(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repomap, "MAX_MAP_FILES", 2)
    result = build(shop, tmp_path / "index")
    assert result.text == ""
    assert "source files (limit 2)" in result.note
    assert not (tmp_path / "index").exists()


def test_budget_is_a_share_of_the_prompt_budget() -> None:
    assert repo_map_budget(ContextSettings()) == DEFAULT_REPO_MAP_TOKENS
    assert repo_map_budget(ContextSettings(max_tokens=4000)) == 500
