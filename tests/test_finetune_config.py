"""Fine-tuning configuration (issue #13): train files, devices, GPU pricing, serving runtimes and their errors.

The adapter-loading API is vLLM's (`POST /v1/load_lora_adapter`); no vLLM runs here, so its replies are replayed
from vLLM's documented behaviour by a scripted server on 127.0.0.1 (a real HTTP exchange, scripted answers)."""

from __future__ import annotations

import json
import shutil
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from servers import loopback_http, send_json

from evals.core.errors import ConfigError
from evals.core.types import Answer, SetupReport
from evals.scoring.cost import ModelPrice, load_price_table
from strategies.adapters import FinetuneParams, training_base, training_examples
from strategies.backends.factory import GeneratorParams, make_backend
from strategies.backends.model_files import default_generator_path
from strategies.finetuned import FinetunedParams
from strategies.rag import RagParams
from strategies.serving.launched import LaunchedServerBackend, vllm_command
from strategies.serving.remote_adapter import load_adapter
from strategies.train_file import read_train_file
from strategies.training_device import resolve_training_device

NO_CUDA = not torch.cuda.is_available()


def _write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_train_files_take_pairs_and_openai_chat_format(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"question": "Who wrote Hamlet?", "answer": "Shakespeare"},
        "",
        {"prompt": "Capital of France?", "completion": "Paris"},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Largest planet?"},
                {"role": "assistant", "content": "Jupiter"},
            ]
        },
    )
    pair, prompt_completion, chat = read_train_file(path)
    assert (pair.prompt, pair.completion, pair.system) == ("Who wrote Hamlet?", "Shakespeare", None)
    assert (prompt_completion.prompt, prompt_completion.completion) == ("Capital of France?", "Paris")
    assert (chat.prompt, chat.completion, chat.system) == ("Largest planet?", "Jupiter", "Be brief.")
    assert [(turn.role, turn.content) for turn in chat.history] == [("user", "Hi"), ("assistant", "Hello.")]


def test_the_train_file_replaces_the_train_split(tmp_path: Path) -> None:
    path = _write(tmp_path, *({"question": f"q{i}", "answer": f"a{i}"} for i in range(10)))
    examples = training_examples([], FinetuneParams(train_file=str(path), max_examples=4))
    assert len(examples) == 4 and all(e.prompt.startswith("q") for e in examples)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"train.jsonl:2: not valid JSON"),
        ("[1, 2]", r"train.jsonl:2: expected a JSON object, got list"),
        ({"question": "q"}, r"train.jsonl:2: `answer` must be a non-empty string"),
        ({"question": "q", "answer": "  "}, r"train.jsonl:2: `answer` must be a non-empty string"),
        ({"text": "q"}, r"train.jsonl:2: expected `messages`, `question` \+ `answer`"),
        ({"messages": []}, r"train.jsonl:2: `messages` must be a non-empty list"),
        ({"messages": [{"role": "user", "content": "q"}]}, r"train.jsonl:2: `messages` must be .* ending with"),
        ({"messages": [{"role": "bot", "content": "q"}]}, r"train.jsonl:2: messages\[0\].role: expected system"),
        ({"messages": [{"role": "user", "content": 3}]}, r"train.jsonl:2: messages\[0\]: `content` must be"),
        (
            {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]},
            r"got roles \['assistant', 'user'\]",
        ),
    ],
)
def test_bad_train_file_lines_are_named(tmp_path: Path, line: object, message: str) -> None:
    path = _write(tmp_path, {"question": "fine", "answer": "yes"}, line)
    with pytest.raises(ConfigError, match=message):
        read_train_file(path)


def test_missing_or_empty_train_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train_file not found"):
        read_train_file(tmp_path / "absent.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ConfigError, match="has no examples"):
        read_train_file(tmp_path / "empty.jsonl")


def test_auto_device_follows_the_machine_and_half_precision_needs_a_gpu() -> None:
    auto = resolve_training_device()
    assert auto.device == ("cpu" if NO_CUDA else "cuda")
    assert resolve_training_device("cpu").precision == "fp32"
    with pytest.raises(ConfigError, match="needs a GPU; CPU training runs in fp32"):
        resolve_training_device("cpu", "bf16")


@pytest.mark.skipif(not NO_CUDA, reason="checks the errors of a machine without CUDA")
def test_cuda_and_qlora_on_a_machine_without_cuda_say_so() -> None:
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU here"):
        resolve_training_device("cuda")
    with pytest.raises(ConfigError, match="QLoRA.*needs a CUDA GPU"):
        resolve_training_device("auto", "auto", "4bit")
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
        FinetuneParams(device="cuda").hardware()


def test_gradient_accumulation_counts_in_the_steps_and_the_adapter_identity() -> None:
    plain, accumulated = FinetuneParams(batch_size=4), FinetuneParams(batch_size=4, gradient_accumulation_steps=2)
    assert plain.steps(40) == 10 and accumulated.steps(40) == 5  # one pass: 40 / 4, 40 / (4 × 2)
    assert accumulated.lora_params(40).gradient_accumulation_steps == 2


def test_gpu_training_is_priced_per_gpu_hour() -> None:
    table = load_price_table()
    assert table.compute.gpu_per_hour is not None and table.compute.gpu_per_hour > table.compute.local_per_hour
    cpu = SetupReport(seconds=3600, model="smollm2-135m-instruct")
    gpu = cpu.model_copy(update={"accelerator": "gpu"})
    assert table.setup_cost(cpu) == pytest.approx(table.compute.local_per_hour)
    assert table.setup_cost(gpu) == pytest.approx(table.compute.gpu_per_hour)
    served = Answer(text="a", model="llama-8b-h100", timings={"total": 3600})
    gpu_model = table.model_copy(update={"models": {"llama-8b-h100": ModelPrice(local=True, accelerator="gpu")}})
    assert gpu_model.query_cost(served) == pytest.approx(table.compute.gpu_per_hour)


def test_running_servers_need_a_local_copy_to_train_on(tmp_path: Path) -> None:
    endpoint = {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    with pytest.raises(ValueError, match="set finetune.base_model"):
        FinetunedParams.model_validate({"generator": endpoint})
    with pytest.raises(ValueError, match="set finetune.base_model"):
        RagParams.model_validate({"generator": endpoint, "finetune": {}})
    with pytest.raises(ValueError, match="adapter_name.*needs backend 'openai'"):
        GeneratorParams(adapter_name="x")
    with pytest.raises(ValueError, match="'vllm' needs `model_path`"):
        GeneratorParams(backend="vllm")
    with pytest.raises(ConfigError, match="set finetune.base_model"):  # the same rule, where training starts
        training_base(GeneratorParams.model_validate(endpoint), FinetuneParams())
    assert training_base(GeneratorParams(), FinetuneParams()) == default_generator_path()
    folder = str(tmp_path / "hf")
    assert training_base(GeneratorParams(backend="vllm", model_path=folder), FinetuneParams()) == Path(folder)


@pytest.mark.skipif(shutil.which("vllm") is not None, reason="vLLM is installed here")
def test_a_vllm_runtime_without_vllm_installed_says_how_to_get_it() -> None:
    with pytest.raises(ConfigError, match="needs vLLM installed"):
        vllm_command("some/model", "m", None, seed=0)


def test_server_runtimes_start_nothing_until_loaded() -> None:
    backend = make_backend(GeneratorParams(backend="llama_cpp_server"))
    assert isinstance(backend, LaunchedServerBackend) and backend.identity()["backend"] == "llama_cpp_server"
    backend.close()  # never started: nothing to stop


class VllmAdapterApi(BaseHTTPRequestHandler):
    """vLLM's runtime adapter API as documented: 200 on load, 400 with a reason on a bad path or a second load."""

    loaded: ClassVar[set[str]] = set()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/load_lora_adapter":
            send_json(self, 404, b'{"detail":"Not Found"}')
        elif not Path(body["lora_path"]).is_dir():
            reason = f"Loading lora {body['lora_name']} failed: No adapter found for {body['lora_path']}"
            send_json(self, 400, json.dumps({"object": "error", "message": reason, "code": 400}).encode())
        elif body["lora_name"] in self.loaded:
            reason = f"The lora adapter '{body['lora_name']}' has already been loaded."
            send_json(self, 400, json.dumps({"object": "error", "message": reason, "code": 400}).encode())
        else:
            self.loaded.add(body["lora_name"])
            send_json(self, 200, f"Success: LoRA adapter '{body['lora_name']}' added successfully.".encode())

    def log_message(self, *args: object) -> None:
        pass


def test_adapters_load_through_the_servers_api_and_refusals_quote_the_server(tmp_path: Path) -> None:
    with loopback_http(VllmAdapterApi) as base_url:
        assert load_adapter(base_url, "UNSET_KEY_ENV", "squad-lora", tmp_path) == "squad-lora"
        assert load_adapter(base_url, "UNSET_KEY_ENV", "squad-lora", tmp_path) == "squad-lora"  # already there
        with pytest.raises(ConfigError, match=r"refused adapter .*HTTP 400.*No adapter found"):
            load_adapter(base_url, "UNSET_KEY_ENV", "other", tmp_path / "missing")
        with pytest.raises(ConfigError, match=r"no adapter-loading API.*set generator.adapter_name"):
            load_adapter(base_url.removesuffix("/v1") + "/elsewhere", "UNSET_KEY_ENV", "x", tmp_path)


def test_the_shipped_hf_suite_serves_every_strategy_from_a_llama_cpp_server_it_starts() -> None:
    from conftest import REPO

    from evals.core.strategy import STRATEGIES
    from evals.core.suite import load_suite

    suite = load_suite(REPO / "evals" / "suites" / "hf-smollm2.toml")
    assert [entry.name for entry in suite.strategies] == ["closed_book", "rag", "finetuned", "finetuned_rag"]
    for entry in suite.strategies:
        params = STRATEGIES.get(entry.type).Params.model_validate(entry.params)
        assert params.generator.backend == "llama_cpp_server"  # type: ignore[attr-defined]
        finetune = getattr(params, "finetune", None)
        assert (finetune is not None) == entry.name.startswith("finetuned")
        if finetune is not None:
            assert finetune.base_model == "models/SmolLM2-135M-Instruct-hf"


def test_an_hf_copy_never_overwrites_an_existing_folder(tmp_path: Path) -> None:
    from strategies.hf_models import export_hf_copy

    (tmp_path / "model").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        export_hf_copy(default_generator_path(), tmp_path / "model")


def test_llama_cpp_runtimes_answer_one_request_at_a_time() -> None:
    assert GeneratorParams().max_concurrency() == GeneratorParams(backend="llama_cpp_server").max_concurrency() == 1
    endpoint = GeneratorParams(backend="openai", model="m", base_url="http://127.0.0.1:9/v1")
    assert endpoint.max_concurrency() is None
