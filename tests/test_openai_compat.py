"""One rule for OpenAI-compatible errors, applied alike by the chat backend, the LLM judge and the OpenAI
fine-tuning strategy, each talking through a real `openai` client to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from servers import loopback_http, send_json

from evals.core.errors import ConfigError, EvalsError, TransientError
from evals.core.types import Answer, QAItem, RetrievedContext, RunContext
from evals.infra.openai_compat import ApiKey, RequestRejected
from evals.scoring.ragas_judge import JudgeConfig, RagasJudge
from strategies.backends.base import ChatMessage
from strategies.backends.openai_backend import OpenAIBackend
from strategies.openai_finetuned import FineTuningUnavailable, OpenAIFinetuned, OpenAIFinetunedParams

KEY = "sk-planted-compat-0123456789abcdef"
ITEM = QAItem(id="q", question="Where is the Eiffel Tower?", answers=["Paris"])
ANSWER = Answer(text="Paris.", contexts=[RetrievedContext(doc_id="d", text="The Eiffel Tower is in Paris.")])
TRAIN = [QAItem(id=f"t{i}", question=f"Question {i}?", answers=[f"answer {i}"]) for i in range(12)]

# status -> what every caller must raise
EXPECTED: dict[int, type[Exception]] = {
    400: RequestRejected,
    401: ConfigError,
    403: ConfigError,
    404: ConfigError,
    408: TransientError,
    409: TransientError,
    422: RequestRejected,
    429: TransientError,
    500: TransientError,
    503: TransientError,
}


@contextmanager
def failing_server(status: int) -> Iterator[tuple[str, list[str]]]:
    """Answers every request with `status` and an error that quotes the Authorization header back."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _fail(self) -> None:
            paths.append(f"{self.command} {self.path}")
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            echoed = {"error": {"message": f"no, {self.headers.get('Authorization')}", "type": "invalid_request"}}
            send_json(self, status, json.dumps(echoed).encode(), {"Retry-After": "0"})

        do_GET = do_POST = _fail  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    with loopback_http(Handler) as base_url:
        yield base_url, paths


def backend_call(base_url: str) -> None:
    OpenAIBackend(model="m", base_url=base_url, api_key_env="COMPAT_KEY").complete(
        [ChatMessage(role="user", content="hi")], max_tokens=4
    )


def judge_call(base_url: str) -> None:
    RagasJudge(JudgeConfig(model="judge", base_url=base_url, api_key_env="COMPAT_KEY"), use_cache=False).score(
        ITEM, ANSWER, ("ragas_faithfulness",)
    )


def finetune_call(base_url: str, tmp_path: Path) -> None:
    params = OpenAIFinetunedParams(base_url=base_url, api_key_env="COMPAT_KEY", poll_interval_s=0.01)
    OpenAIFinetuned(params, RunContext(cache_dir=tmp_path)).prepare(TRAIN, [])


@pytest.fixture(autouse=True)
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAT_KEY", KEY)


@pytest.mark.parametrize("status", sorted(EXPECTED))
@pytest.mark.parametrize("caller", ["backend", "judge"])
def test_backend_and_judge_sort_every_status_the_same_way(status: int, caller: str) -> None:
    call: Callable[[str], None] = backend_call if caller == "backend" else judge_call
    with failing_server(status) as (base_url, paths), pytest.raises(Exception) as raised:
        call(base_url)
    assert type(raised.value) is EXPECTED[status] or isinstance(raised.value, EXPECTED[status])
    assert str(status) in str(raised.value) and KEY not in str(raised.value) and "***" in str(raised.value)
    assert len(paths) == 1  # the client itself never retries; retrying is the runner's job, by this rule


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_fine_tuning_setup_stops_at_once_with_the_same_configuration_errors(status: int, tmp_path: Path) -> None:
    # creating a job twice could pay for two, so `prepare` retries nothing; the key and model errors match the rest.
    # A transient failure is not the user's: it fails this strategy's items (not an EvalsError, which stops the run)
    with failing_server(status) as (base_url, paths), pytest.raises(Exception) as raised:
        finetune_call(base_url, tmp_path)
    assert isinstance(raised.value, ConfigError) == (EXPECTED[status] is ConfigError)
    assert isinstance(raised.value, FineTuningUnavailable) == (EXPECTED[status] is TransientError)
    assert isinstance(raised.value, EvalsError) == (EXPECTED[status] is not TransientError)
    assert str(status) in str(raised.value) and KEY not in str(raised.value) and "***" in str(raised.value)
    assert paths == ["POST /v1/files"]


def test_a_missing_key_names_the_variable_and_a_set_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPAT_KEY")
    with pytest.raises(ConfigError, match="set COMPAT_KEY to your OpenAI API key"):
        ApiKey("COMPAT_KEY", base_url=None)
    assert ApiKey("COMPAT_KEY", base_url="http://127.0.0.1:1/v1").value == "not-needed"  # local servers need none
    monkeypatch.setenv("COMPAT_KEY", KEY)
    key = ApiKey("COMPAT_KEY", base_url=None)
    assert KEY not in repr(key) and KEY not in str(key) and key.mask(f"echo {KEY}!") == "echo ***!"
