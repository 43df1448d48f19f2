from patchloop.localize._paths import is_source_path, is_test_path, source_files
from patchloop.localize.mentions import frames_from_text, match_path, mention_locations

FILES = ["pkg/core/basic.py", "pkg/printing/latex.py", "other/basic.py", "setup.py"]


def test_test_paths():
    for path in (
        "test_a.py",
        "a_test.py",
        "conftest.py",
        "tests/a.py",
        "pkg/test/b.py",
        "testing/c.py",
    ):
        assert is_test_path(path), path
    for path in ("pkg/a.py", "pkg/testing_utils.py", "contest.py", "pkg/tester.py"):
        assert not is_test_path(path), path
    assert not is_source_path("pkg/data.json")
    assert not is_source_path("../outside.py")
    assert not is_source_path(".venv/lib/site-packages/x.py")


def test_source_files_skip_tests_hidden_and_installed_dirs(make_repo):
    root = make_repo(
        {
            "pkg/a.py": "",
            "pkg/tests/test_a.py": "",
            ".venv/lib/x.py": "",
            ".hidden/y.py": "",
            "node_modules/z.py": "",
            "README.md": "",
        }
    )
    assert source_files(root) == ["pkg/a.py"]


def test_paths_from_other_machines_match_by_longest_suffix():
    assert match_path("/home/x/site-packages/pkg/core/basic.py", FILES) == "pkg/core/basic.py"
    assert match_path("C:\\src\\pkg\\printing\\latex.py", FILES) == "pkg/printing/latex.py"
    assert match_path("latex.py", FILES) == "pkg/printing/latex.py"
    assert match_path("basic.py", FILES) is None  # two files share the name
    assert match_path("nothing.py", FILES) is None


def test_tracebacks_in_text_are_split_into_stacks():
    text = """
    Traceback (most recent call last):
      File "/usr/lib/python3/pkg/core/basic.py", line 10, in f
        x()
      File "<stdin>", line 1, in <module>
    ValueError
    and later with pytest:
    pkg/printing/latex.py:33: in _print
    Traceback (most recent call last):
      File "pkg/core/basic.py", line 12, in g
    """
    stacks = frames_from_text(text)
    assert [[(f.path, f.line, f.function) for f in s] for s in stacks] == [
        [
            ("/usr/lib/python3/pkg/core/basic.py", 10, "f"),
            ("<stdin>", 1, "<module>"),
            ("pkg/printing/latex.py", 33, "_print"),
        ],
        [("pkg/core/basic.py", 12, "g")],
    ]


def test_mentioned_files_and_dotted_modules_rank_after_frames(make_repo):
    root = make_repo(
        {
            "pkg/__init__.py": "",
            "pkg/core/__init__.py": "",
            "pkg/core/basic.py": "def f():\n    return 1\n",
            "pkg/printing/latex.py": "def latex(x):\n    return x\n",
            "pkg/util.py": "X = 1\n",
        }
    )
    text = (
        "latex() of pkg.util.X breaks, see pkg/printing/latex.py\n"
        'File "/x/pkg/core/basic.py", line 2, in f\n'
    )
    locs = mention_locations(text, root, source_files(root))
    assert [(loc.path, loc.symbol) for loc in locs] == [
        ("pkg/core/basic.py", "f"),
        ("pkg/util.py", ""),
        ("pkg/printing/latex.py", ""),
    ]
    assert locs[0].signals["mentions"] == 1.0
    assert locs[1].signals["mentions"] > locs[2].signals["mentions"]
    assert (locs[1].start_line, locs[1].end_line) == (1, 2)
