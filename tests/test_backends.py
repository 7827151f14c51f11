"""Chat backends against real models and real HTTP servers: llama.cpp in-process, llama_cpp.server, stubs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
from servers import free_port, loopback_http, send_json

from evals.core.errors import ConfigError, TransientError
from strategies.backends.base import ChatMessage
from strategies.backends.llama_cpp_backend import LlamaCppBackend
from strategies.backends.model_files import GENERATOR_MODEL_NAME, default_generator_path, validate_gguf_path
from strategies.backends.openai_backend import OpenAIBackend

KEY_ENV = "EVALS_TEST_PLANTED_KEY"
PLANTED_KEY = "sk-planted-9f8e7d6c5b4a-do-not-leak"
QUESTION = [
    ChatMessage(role="system", content="Answer in one short sentence."),
    ChatMessage(role="user", content="What is the capital of France?"),
]


# ---------------------------------------------------------------- stub HTTP server


@contextmanager
def stub_server(
    status: int, body: bytes | None = None, headers: dict[str, str] | None = None, delay: float = 0.0
) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering every POST with `status`, `headers` and `body`.

    Without a body it answers an error JSON that quotes the request's Authorization header back,
    as careless servers do, so tests can check the key is redacted. Yields the base URL.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            echoed = json.dumps({"error": {"message": f"bad request with {self.headers.get('Authorization')}"}})
            send_json(self, status, body if body is not None else echoed.encode(), headers)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
            pass

    with loopback_http(Handler) as base_url:
        yield base_url


@pytest.fixture
def planted_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    return PLANTED_KEY


def failing_call(base_url: str, timeout: float = 10.0) -> Exception:
    """Call a backend at `base_url` with the planted key; return what it raised."""
    backend = OpenAIBackend(model="test-model", base_url=base_url, api_key_env=KEY_ENV, timeout=timeout)
    try:
        backend.complete(QUESTION, max_tokens=8)
    except Exception as error:
        return error
    finally:
        backend.close()
    raise AssertionError("the call did not fail")


def completion_body(**overrides: object) -> bytes:
    reply: dict[str, object] = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    reply.update(overrides)
    return json.dumps(reply).encode()


# ---------------------------------------------------------------- model files


def test_default_generator_path_is_the_bundled_gguf() -> None:
    path = default_generator_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert validate_gguf_path(path) == path


def test_missing_model_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ConfigError, match="model.gguf") as caught:
        LlamaCppBackend(model_path=missing)
    assert str(missing) in str(caught.value)


def test_missing_lora_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "adapter.gguf"
    with pytest.raises(ConfigError, match="LoRA adapter") as caught:
        LlamaCppBackend(lora_path=missing)
    assert str(missing) in str(caught.value)


def test_a_model_given_as_lora_adapter_is_a_config_error() -> None:
    """llama.cpp itself would accept it and silently run the base model."""
    with pytest.raises(ConfigError, match="is not a GGUF LoRA adapter"):
        LlamaCppBackend(lora_path=default_generator_path())


def test_a_file_that_is_not_gguf_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a GGUF file"):
        LlamaCppBackend(model_path=bogus)


def test_llama_backend_construction_is_cheap_and_identity_hashes_the_file() -> None:
    backend = LlamaCppBackend()
    assert backend._llm is None
    identity = backend.identity()
    assert len(identity["model_sha256"]) == 64
    assert identity["lora_sha256"] is None
    assert identity["n_ctx"] == 2048
    assert backend.model_name == GENERATOR_MODEL_NAME


# ---------------------------------------------------------------- OpenAI backend: configuration


def test_openai_without_key_or_base_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        OpenAIBackend(model="gpt-4o-mini")


def test_openai_local_base_url_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend(model="local", base_url="http://127.0.0.1:9/v1", model_name="smollm2-135m-instruct")
    assert backend.identity() == {"backend": "openai", "base_url": "http://127.0.0.1:9/v1/", "model": "local"}
    assert backend.model_name == "smollm2-135m-instruct"


def test_the_key_is_not_in_identity_or_repr(planted_key: str) -> None:
    backend = OpenAIBackend(model="gpt-4o-mini", api_key_env=KEY_ENV)
    assert planted_key not in json.dumps(backend.identity())
    assert planted_key not in repr(backend)
    assert backend.identity()["base_url"] == "https://api.openai.com/v1/"


# ---------------------------------------------------------------- OpenAI backend: error mapping


@pytest.mark.parametrize(("as_date", "expected"), [(False, 2.0), (True, 30.0)], ids=["seconds", "http-date"])
def test_rate_limit_is_transient_with_retry_after(planted_key: str, as_date: bool, expected: float) -> None:
    when = datetime.now(UTC) + timedelta(seconds=expected)
    retry_after = format_datetime(when, usegmt=True) if as_date else str(int(expected))
    with stub_server(429, headers={"Retry-After": retry_after}) as base_url:
        error = failing_call(base_url)
    assert isinstance(error, TransientError)
    assert error.retry_after == pytest.approx(expected, abs=2)
    assert "429" in str(error)
    assert planted_key not in str(error)


def test_rate_limit_without_retry_after_leaves_it_unset(planted_key: str) -> None:
    with stub_server(429) as base_url:
        error = failing_call(base_url)
    assert isinstance(error, TransientError)
    assert error.retry_after is None


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(planted_key: str, status: int) -> None:
    with stub_server(status) as base_url:
        error = failing_call(base_url)
    assert isinstance(error, TransientError)
    assert str(status) in str(error)
    assert planted_key not in str(error)


@pytest.mark.parametrize(
    "body",
    [
        b'{"choices": [{"message": ',
        b"[1, 2, 3]",
        json.dumps({"object": "chat.completion"}).encode(),
        completion_body(choices=[]),
        completion_body(choices=[{"index": 0, "message": {"role": "assistant", "content": None}}]),
    ],
    ids=["truncated-json", "not-an-object", "no-choices", "empty-choices", "null-content"],
)
def test_malformed_replies_are_transient(planted_key: str, body: bytes) -> None:
    with stub_server(200, body=body) as base_url:
        error = failing_call(base_url)
    assert isinstance(error, TransientError), repr(error)
    assert planted_key not in str(error)


def test_timeouts_are_transient(planted_key: str) -> None:
    with stub_server(200, body=completion_body(), delay=1.5) as base_url:
        error = failing_call(base_url, timeout=0.3)
    assert isinstance(error, TransientError)
    assert "timed out" in str(error)


def test_refused_connections_are_transient(planted_key: str) -> None:
    error = failing_call(f"http://127.0.0.1:{free_port()}/v1")
    assert isinstance(error, TransientError)
    assert "cannot connect" in str(error)


@pytest.mark.parametrize(("status", "kind"), [(401, ConfigError), (404, ConfigError), (400, RuntimeError)])
def test_client_errors_are_not_transient_and_do_not_leak_the_key(planted_key: str, status: int, kind: type) -> None:
    with stub_server(status) as base_url:
        error = failing_call(base_url)
    assert isinstance(error, kind)
    assert not isinstance(error, TransientError)
    assert str(status) in str(error)
    assert "Bearer ***" in str(error)  # the stub quoted the key back; the backend redacted it
    assert planted_key not in str(error)
    assert error.__cause__ is None and error.__suppress_context__


def test_a_wellformed_reply_gives_text_usage_and_timing(planted_key: str) -> None:
    with stub_server(200, body=completion_body()) as base_url:
        backend = OpenAIBackend(model="test-model", base_url=base_url, api_key_env=KEY_ENV)
        completion = backend.complete(QUESTION, max_tokens=8)
        backend.close()
    assert completion.text == "Paris."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 3)
    assert completion.seconds > 0
    assert completion.model == "test-model"


# ---------------------------------------------------------------- real models


@pytest.mark.slow
def test_llama_cpp_answers_deterministically_with_usage() -> None:
    backend = LlamaCppBackend()
    other = [QUESTION[0], ChatMessage(role="user", content="Hi")]
    try:
        first = backend.complete(QUESTION, max_tokens=24)
        backend.complete(other, max_tokens=8)
        second = backend.complete(QUESTION, max_tokens=24)
    finally:
        backend.close()
    assert first.text.strip()
    assert "paris" in first.text.lower()
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert first.seconds > 0
    assert first.model == GENERATOR_MODEL_NAME
    assert (second.text, second.usage) == (first.text, first.usage)


@pytest.fixture(scope="module")
def random_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real GGUF LoRA adapter on every layer's q_proj, with weights large enough to change answers."""
    from safetensors.numpy import save_file

    from strategies.lora_gguf import export_lora_gguf

    peft_dir = tmp_path_factory.mktemp("adapter")
    rng = np.random.default_rng(0)
    tensors = {}
    for layer in range(30):
        prefix = f"base_model.model.model.layers.{layer}.self_attn.q_proj"
        tensors[f"{prefix}.lora_A.weight"] = rng.standard_normal((4, 576), np.float32)
        tensors[f"{prefix}.lora_B.weight"] = rng.standard_normal((576, 4), np.float32)
    save_file(tensors, str(peft_dir / "adapter_model.safetensors"))
    (peft_dir / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8}))
    return export_lora_gguf(peft_dir, peft_dir / "adapter.gguf", default_generator_path())


@pytest.mark.slow
def test_llama_cpp_applies_a_lora_adapter(random_adapter: Path) -> None:
    base = LlamaCppBackend()
    adapted = LlamaCppBackend(lora_path=random_adapter)
    try:
        assert adapted.complete(QUESTION, max_tokens=12).text != base.complete(QUESTION, max_tokens=12).text
    finally:
        base.close()
        adapted.close()
    identity = adapted.identity()
    assert identity["lora_file"] == "adapter.gguf"
    assert len(identity["lora_sha256"]) == 64
    assert identity["model_sha256"] == base.identity()["model_sha256"]


@pytest.mark.slow
def test_openai_backend_against_a_real_llama_server(monkeypatch: pytest.MonkeyPatch, llama_server_url: str) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend(model=GENERATOR_MODEL_NAME, base_url=llama_server_url)
    try:
        first = backend.complete(QUESTION, max_tokens=24)
        second = backend.complete(QUESTION, max_tokens=24)
    finally:
        backend.close()
    assert "paris" in first.text.lower()
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    assert second.text == first.text
    assert first.model == GENERATOR_MODEL_NAME


@pytest.mark.slow
def test_server_and_in_process_llama_agree_at_temperature_zero(llama_server_url: str) -> None:
    local = LlamaCppBackend()
    remote = OpenAIBackend(model=GENERATOR_MODEL_NAME, base_url=llama_server_url)
    try:
        assert remote.complete(QUESTION, max_tokens=24).text == local.complete(QUESTION, max_tokens=24).text
    finally:
        local.close()
        remote.close()
