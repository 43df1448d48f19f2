"""Discovery requests (model list, health, server info) have their own short time limit."""

from __future__ import annotations

import pytest

from patchloop.config import ModelSettings
from patchloop.errors import ModelTimeout
from patchloop.models import _http
from patchloop.models.openai import OpenAIModel
from patchloop.models.profiles import profile_for
from patchloop.models.tgi import TGIModel
from tests.models.httpserver import Reply, TestServer

#: A completion may take this long; discovery must not.
PATIENT = ModelSettings(request_timeout=120.0, retries=0)


@pytest.fixture
def short_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_http, "DISCOVERY_TIMEOUT_S", 0.3)


@pytest.mark.usefixtures("short_discovery")
def test_a_model_list_that_never_comes_is_a_timeout() -> None:
    with TestServer() as server:
        server.add("GET", "/v1/models", Reply(body={"data": [{"id": "m"}]}, delay_s=30))
        server.add("GET", "/health", Reply(body={}, delay_s=30))
        model = OpenAIModel(f"{server.url}/v1", profile=profile_for("vllm"), settings=PATIENT)
        with pytest.raises(ModelTimeout, match=r"within 0\.3s"):
            model.served_models()
        with pytest.raises(ModelTimeout):
            model.health()
        model.close()


@pytest.mark.usefixtures("short_discovery")
def test_tgi_info_and_health_are_bounded() -> None:
    with TestServer() as server:
        server.add("GET", "/info", Reply(body={"model_id": "m"}, delay_s=30))
        server.add("GET", "/health", Reply(body={}, delay_s=30))
        model = TGIModel(server.url, settings=PATIENT)
        with pytest.raises(ModelTimeout):
            model.served_models()
        with pytest.raises(ModelTimeout):
            model.health()
        model.close()
