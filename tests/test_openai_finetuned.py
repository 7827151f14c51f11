"""The `openai_finetuned` strategy against recorded OpenAI API exchanges.

No local server offers OpenAI's files and fine-tuning jobs API, so these tests replay RECORDED
exchanges: the JSON files in `tests/recordings/openai_finetune/` list each request (method, path,
a summary of its body) and the response to send (status, headers, JSON body). They are written by
hand in the shape of OpenAI's documented responses (file objects, `fine_tuning.job` objects moving
validating_files → queued → running → succeeded, `chat.completion` objects with usage, error
bodies), not captured from a live account. `ReplayServer` serves them in order from a real HTTP
server on 127.0.0.1, and the strategy talks to it through the `openai` client via `base_url`,
so request building, multipart upload, response parsing and error mapping all run for real.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, cast

import pytest
from servers import loopback_http, send_json

from evals import RunSettings, load_suite, run_suite
from evals.core.errors import ConfigError, EvalsError
from evals.core.types import QAItem, RunContext
from evals.results.records import RunManifest
from strategies.openai_finetuned import FineTuningError, OpenAIFinetuned, OpenAIFinetunedParams
from strategies.prompts import CLOSED_BOOK_SYSTEM

RECORDINGS = Path(__file__).resolve().parent / "recordings" / "openai_finetune"
BASE_MODEL = "gpt-4o-mini-2024-07-18"
PLANTED_KEY = "sk-proj-PLANTEDtestKEY0123456789abcdefDoNotLeak"

TRAIN = [
    QAItem(id=f"t{n}", question=question, answers=[answer])
    for n, (question, answer) in enumerate(
        [
            ("Which NFL team represented the AFC at Super Bowl 50?", "Denver Broncos"),
            ("Which NFL team represented the NFC at Super Bowl 50?", "Carolina Panthers"),
            ("Where did Super Bowl 50 take place?", "Santa Clara, California"),
            ("Which NFL team won Super Bowl 50?", "Denver Broncos"),
            ("What color was used to emphasize the 50th anniversary of the Super Bowl?", "gold"),
            ("What was the theme of Super Bowl 50?", "golden anniversary"),
            ("What day was the game played on?", "February 7, 2016"),
            ("What is the AFC short for?", "American Football Conference"),
            ("Who was the Super Bowl 50 MVP?", "Von Miller"),
            ("How many points did the Broncos score?", "24"),
            ("Who did the Broncos defeat in the AFC Championship?", "New England Patriots"),
        ]
    )
] + [QAItem(id="t-impossible", question="Who won Super Bowl 51 at Levi's Stadium?", is_impossible=True)]
TEST = [
    QAItem(id="q0", question="Which stadium hosted Super Bowl 50?", answers=["Levi's Stadium"]),
    QAItem(id="q1", question="Who was the Carolina Panthers' quarterback?", answers=["Cam Newton"]),
]


class ReplayServer:
    """A real HTTP server on 127.0.0.1 answering each request with the next recorded exchange.

    A request that does not match the recording (method, path, or a key of its body summary)
    gets HTTP 400 and is listed in `mismatches`; every request received is kept in `requests`.
    """

    def __init__(self, recording: str) -> None:
        self.exchanges: deque[dict[str, Any]] = deque(
            json.loads((RECORDINGS / f"{recording}.json").read_text(encoding="utf-8"))["exchanges"]
        )
        self.requests: list[dict[str, Any]] = []
        self.mismatches: list[str] = []
        self._lock = threading.Lock()
        self._running = ExitStack()
        self.base_url = ""

    def start(self) -> ReplayServer:
        self.base_url = self._running.enter_context(loopback_http(self._handler()))
        return self

    def stop(self) -> None:
        self._running.close()

    def paths(self) -> list[str]:
        return [f"{request['method']} {request['path']}" for request in self.requests]

    def assert_replayed(self) -> None:
        """Every recorded exchange was asked for, in order, and nothing else."""
        assert self.mismatches == []
        assert not self.exchanges, f"{len(self.exchanges)} recorded exchange(s) never requested"

    def _reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        fields = _body_fields(headers.get("Content-Type", ""), body)
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "fields": fields})
            exchange = self.exchanges.popleft() if self.exchanges else None
        problem = _mismatch(exchange["request"] if exchange else None, method, path, fields)
        if exchange is None or problem:
            message = f"replay mismatch for {method} {path}: {problem}"
            self.mismatches.append(message)
            error = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
            return 400, {}, json.dumps(error).encode()
        response = exchange["response"]
        return response["status"], response.get("headers", {}), json.dumps(response["json"]).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, payload = replay._reply(self.command, self.path, dict(self.headers), body)
                send_json(self, status, payload, headers)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test asserts on `requests` instead."""

        return Handler


def _body_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """A JSON body as a dict, a multipart form as {field: text}; {} when empty."""
    if content_type.startswith("multipart/form-data"):
        form = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        return {
            str(part.get_param("name", header="content-disposition")): cast(
                bytes, part.get_payload(decode=True)
            ).decode()
            for part in form.iter_parts()
        }
    return json.loads(body) if body else {}


def _mismatch(expected: dict[str, Any] | None, method: str, path: str, fields: dict[str, Any]) -> str | None:
    """Why a request does not match the recorded one; None when it does."""
    if expected is None:
        return "no recorded exchange left"
    if (method, path) != (expected["method"], expected["path"]):
        return f"recorded {expected['method']} {expected['path']}"
    for name, value in expected.get("body", {}).items():
        if fields.get(name) != value:
            return f"body field {name!r} is {fields.get(name)!r}, recorded {value!r}"
    return None


@pytest.fixture
def replay(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], ReplayServer]]:
    """Start replay servers by recording name (in a temp workdir and job cache); stopped afterwards."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    servers: list[ReplayServer] = []

    def start(recording: str) -> ReplayServer:
        servers.append(ReplayServer(recording).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def strategy(base_url: str, **params: Any) -> OpenAIFinetuned:
    """The strategy as a run builds it: its job records go to the run's cache folder (`workdir/cache`)."""
    return OpenAIFinetuned(
        OpenAIFinetunedParams.model_validate({"base_url": base_url, "poll_interval_s": 0.01, **params}),
        RunContext(cache_dir=Path.cwd() / "cache"),
    )


def job_cache_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "cache" / "openai_jobs").glob("*.json"))


def test_fine_tunes_polls_to_success_answers_with_the_model_and_reuses_the_job(
    replay: Callable[[str], ReplayServer], workdir: Path
) -> None:
    server = replay("happy_path")
    finetuned = strategy(server.base_url, n_epochs=3)
    report = finetuned.prepare(TRAIN, [])
    answers = [finetuned.answer(item) for item in TEST]
    server.assert_replayed()

    upload = server.requests[0]
    assert upload["path"] == "/v1/files" and upload["fields"]["purpose"] == "fine-tune"
    lines = [json.loads(line) for line in upload["fields"]["file"].splitlines()]
    assert len(lines) == 11  # the impossible question is left out
    assert lines[0] == {
        "messages": [
            {"role": "system", "content": CLOSED_BOOK_SYSTEM},
            {"role": "user", "content": "Which NFL team represented the AFC at Super Bowl 50?"},
            {"role": "assistant", "content": "Denver Broncos"},
        ]
    }
    create = server.requests[1]["fields"]
    assert create["training_file"] == "file-4bC5vUGfoNUZ8TJ6fGVFHq" and create["model"] == BASE_MODEL
    assert create["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3}
    assert [r["path"] for r in server.requests[2:8]] == ["/v1/fine_tuning/jobs/ftjob-qhg4yswil15TCqD4SNHn0V1D"] * 6

    assert report.training_tokens == 1452 and report.model == BASE_MODEL and not report.cached
    assert report.details == {
        "job_id": "ftjob-qhg4yswil15TCqD4SNHn0V1D",
        "training_file_id": "file-4bC5vUGfoNUZ8TJ6fGVFHq",
        "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:org::abc123",
        "status": "succeeded",
        "n_epochs": 3,
        "examples": 11,
        "endpoint": server.base_url + "/",
    }
    assert [a.text for a in answers] == ["Levi's Stadium", "Cam Newton"]
    assert answers[0].model == "ft:gpt-4o-mini-2024-07-18" and answers[0].usage.input_tokens == 62
    assert server.requests[-1]["fields"]["messages"][-1] == {"role": "user", "content": TEST[1].question}

    again = strategy(server.base_url, n_epochs=3, poll_interval_s=5, timeout_s=60)
    requests_before = len(server.requests)
    cached = again.prepare(TRAIN, [])
    assert len(server.requests) == requests_before  # served from the job cache: no HTTP at all
    assert cached.cached and cached.seconds == report.seconds and cached.details == report.details
    assert again.identity() == finetuned.identity()  # waiting settings do not change the answer cache key
    assert again.backend is not None and again.backend.model == "ft:gpt-4o-mini-2024-07-18:org::abc123"


def test_failed_job_raises_its_error_and_is_not_remembered(
    replay: Callable[[str], ReplayServer], workdir: Path
) -> None:
    server = replay("failed_job")
    with pytest.raises(FineTuningError) as raised:
        strategy(server.base_url).prepare(TRAIN[:5], [])
    server.assert_replayed()
    message = str(raised.value)
    assert isinstance(raised.value, EvalsError)
    assert "ftjob-Wl9Ej0bJtR3Uu1yfT4kQzXcV" in message and " failed: " in message
    assert "Training file has 5 example(s), but must have at least 10 examples (invalid_n_examples)" in message
    assert job_cache_files(workdir) == []  # a re-run submits a new job


def test_timed_out_wait_is_resumed_on_the_same_job(replay: Callable[[str], ReplayServer], workdir: Path) -> None:
    server = replay("timeout_then_resume")
    with pytest.raises(FineTuningError, match=r"ftjob-8pZ2uYcT0r1VnQeWd5mKxLbH is still running after 0\.3 s"):
        strategy(server.base_url, poll_interval_s=5, timeout_s=0.3).prepare(TRAIN, [])
    resumed = strategy(server.base_url).prepare(TRAIN, [])
    server.assert_replayed()
    assert server.paths().count("POST /v1/files") == 1 and server.paths().count("POST /v1/fine_tuning/jobs") == 1
    assert resumed.details["job_id"] == "ftjob-8pZ2uYcT0r1VnQeWd5mKxLbH" and not resumed.cached
    assert resumed.training_tokens == 1389 and resumed.details["n_epochs"] == 3


def test_api_key_is_sent_but_never_written(
    replay: Callable[[str], ReplayServer], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANTED_OPENAI_KEY", PLANTED_KEY)
    server = replay("happy_path")
    finetuned = strategy(server.base_url, n_epochs=3, api_key_env="PLANTED_OPENAI_KEY")
    report = finetuned.prepare(TRAIN, [])
    answers = [finetuned.answer(item) for item in TEST]
    server.assert_replayed()
    assert {r["headers"]["Authorization"] for r in server.requests} == {f"Bearer {PLANTED_KEY}"}
    written = [report.model_dump_json(), json.dumps(finetuned.identity()), repr(finetuned.backend)]
    written += [answer.model_dump_json() for answer in answers]
    written += [path.read_text() for path in (workdir / "cache").rglob("*") if path.is_file()]
    assert len(job_cache_files(workdir)) == 1
    assert not [text for text in written if PLANTED_KEY in text]


def test_openai_without_a_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set OPENAI_API_KEY"):
        OpenAIFinetuned()


def test_runner_records_the_job_in_the_manifest(
    replay: Callable[[str], ReplayServer], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANTED_OPENAI_KEY", PLANTED_KEY)
    server = replay("runner_suite")
    suite_path = workdir / "suite.toml"
    suite_path.write_text(
        'name = "openai-ft"\nseed = 0\nconcurrency = 1\n\n[[datasets]]\nname = "squad-mini"\nlimit = 2\n\n'
        '[[strategies]]\nname = "ft-mini"\ntype = "openai_finetuned"\n'
        f'params = {{base_url = "{server.base_url}", api_key_env = "PLANTED_OPENAI_KEY", max_examples = 50, '
        'suffix = "squad-mini", poll_interval_s = 0.01}\n',
        encoding="utf-8",
    )
    settings = RunSettings(results_dir=workdir / "results", cache_dir=workdir / "cache", show_progress=False)
    outcome = run_suite(load_suite(suite_path), settings)
    server.assert_replayed()

    manifest_file = workdir / "results" / "runs" / outcome.manifest.run_id / "manifest.json"
    manifest = RunManifest.model_validate_json(manifest_file.read_text())
    (setup,) = manifest.setups
    assert (
        setup.strategy_type == "openai_finetuned" and setup.setup.details["job_id"] == "ftjob-Yx4Tq7NcVb2Lm9RsD3fGhJkP"
    )
    assert setup.setup.details["fine_tuned_model"] == "ft:gpt-4o-mini-2024-07-18:org:squad-mini:B7kQ2xVd"
    assert setup.setup.training_tokens == 8961 and setup.setup_cost_usd == pytest.approx(8961 * 3.00 / 1e6)
    assert len(server.requests[0]["fields"]["file"].splitlines()) == 50
    assert [(r.status, r.answer.text if r.answer else None) for r in outcome.items()] == [
        ("ok", "The north"),
        ("ok", "1130"),
    ]
    assert all(r.scores["f1"] == 1.0 for r in outcome.items())
    assert PLANTED_KEY not in manifest_file.read_text()
