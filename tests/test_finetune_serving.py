"""Fine-tuning a Hugging Face model folder and serving the adapter on every runtime (issue #13), all real:
an HF-format copy of the embedded model made here, LoRA trained on the CPU, served in-process by llama.cpp, by a
`llama_cpp.server` the strategy starts itself, and by one that is already running."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import llama_server

from evals.core.errors import ConfigError
from evals.core.types import QAItem, RunContext
from evals.data import load_dataset
from strategies.adapters import FinetuneParams, prepare_adapter
from strategies.backends.model_files import default_generator_path
from strategies.finetuned import Finetuned, FinetunedParams
from strategies.hf_models import export_hf_copy, validate_base_model
from strategies.serving.launched import LaunchedServerBackend
from strategies.serving.process import ServerProcess

pytestmark = pytest.mark.slow

QUICK_LORA = {"max_examples": 48, "max_steps": 10, "batch_size": 4, "rank": 8, "max_length": 64, "device": "cpu"}
N_ITEMS = 20


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded SmolLM2 as a Hugging Face folder (safetensors, tokenizer, chat template)."""
    return export_hf_copy(default_generator_path(), tmp_path_factory.mktemp("models") / "smollm2-hf")


@pytest.fixture(scope="module")
def squad_mini() -> tuple[list[QAItem], list[QAItem]]:
    dataset = load_dataset("squad-mini")
    return list(dataset.train), list(dataset.test[:N_ITEMS])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _answers(strategy: Finetuned, train: list[QAItem], test: list[QAItem]) -> tuple[list[str], dict]:
    try:
        setup = strategy.prepare(train, [])
        return [strategy.answer(item).text for item in test], setup.details
    finally:
        strategy.close()


def _finetuned(cache_dir: Path, generator: dict, hf_model: Path) -> Finetuned:
    params = FinetunedParams.model_validate(
        {"generator": generator, "finetune": {**QUICK_LORA, "base_model": str(hf_model)}}
    )
    return Finetuned(params, RunContext(cache_dir=cache_dir))


@pytest.fixture(scope="module")
def in_process(
    cache_dir: Path, hf_model: Path, squad_mini: tuple[list[QAItem], list[QAItem]]
) -> tuple[list[str], dict]:
    """Answers of the adapter trained on the HF folder, served in-process by llama.cpp on the embedded GGUF."""
    return _answers(_finetuned(cache_dir, {}, hf_model), *squad_mini)


def test_hf_copy_is_a_complete_model_folder(hf_model: Path) -> None:
    assert validate_base_model(hf_model) == hf_model
    config = json.loads((hf_model / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30


def test_adapter_trained_on_the_hf_folder_changes_the_answers(
    in_process: tuple[list[str], dict], squad_mini: tuple[list[QAItem], list[QAItem]]
) -> None:
    from strategies.closed_book import ClosedBook

    answers, details = in_process
    assert details["device"] == "cpu" and details["precision"] == "fp32" and details["serving"] == "llama_cpp"
    base = ClosedBook()
    base.prepare([], [])
    try:
        from strategies.generation import answer_closed_book

        base_answers = [
            answer_closed_book(base.backend, item, 24, 0.0, worked_example=False).text for item in squad_mini[1]
        ]
    finally:
        base.close()
    differ = sum(a != b for a, b in zip(answers, base_answers, strict=True))
    assert differ > N_ITEMS // 2, (
        f"only {differ} of {N_ITEMS} answers changed: {list(zip(answers, base_answers, strict=True))}"
    )


def test_a_llama_cpp_server_the_strategy_starts_gives_the_in_process_answers(
    cache_dir: Path, hf_model: Path, squad_mini: tuple[list[QAItem], list[QAItem]], in_process: tuple[list[str], dict]
) -> None:
    strategy = _finetuned(cache_dir, {"backend": "llama_cpp_server"}, hf_model)
    assert isinstance(strategy.base, LaunchedServerBackend)
    served, details = _answers(strategy, *squad_mini)
    assert details["serving"] == "llama_cpp_server"
    assert served == in_process[0]
    assert strategy.identity()["model"]["backend"] == "llama_cpp_server"


def test_an_already_running_server_serves_the_adapter_by_name(
    cache_dir: Path, hf_model: Path, squad_mini: tuple[list[QAItem], list[QAItem]], in_process: tuple[list[str], dict]
) -> None:
    train, test = squad_mini
    adapter = prepare_adapter(
        hf_model, "smollm2", train, FinetuneParams(**QUICK_LORA, base_model=str(hf_model)), cache_dir
    )
    assert adapter.setup.cached  # the in-process fixture trained it
    gguf = default_generator_path()
    with llama_server(gguf, model_alias="smollm2-squad", lora_path=adapter.gguf_for(gguf)) as base_url:
        generator = {
            "backend": "openai",
            "model": "smollm2",
            "base_url": base_url,
            "adapter_name": "smollm2-squad",
            "extra_body": {"repeat_penalty": 1.0},  # as in-process llama.cpp samples
        }
        answers, _ = _answers(_finetuned(cache_dir, generator, hf_model), train, test)
    assert answers == in_process[0]


def test_a_server_that_never_gets_ready_fails_with_its_last_log_lines() -> None:
    command = ["python3", "-c", "import sys, time; print('loading weights', flush=True); time.sleep(30)"]
    with pytest.raises(ConfigError, match=r"(?s)not ready .* within 1 s.*loading weights"):
        ServerProcess.start("stuck-server", lambda port: command, startup_timeout=1)


def test_a_server_that_exits_fails_with_its_log() -> None:
    command = ["python3", "-c", "import sys; print('CUDA out of memory'); sys.exit(3)"]
    with pytest.raises(ConfigError, match=r"(?s)exited with code 3.*CUDA out of memory"):
        ServerProcess.start("crashing-server", lambda port: command, startup_timeout=10)


@pytest.fixture
def broken_folder(hf_model: Path, tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((hf_model / name).read_bytes())
    yield folder


def test_incomplete_folders_and_missing_chat_templates_are_named(broken_folder: Path, hf_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"incomplete: it lacks weights"):
        validate_base_model(broken_folder)
    (broken_folder / "model.safetensors").symlink_to(hf_model / "model.safetensors")
    with pytest.raises(ConfigError, match="no chat template"):
        validate_base_model(broken_folder)
    with pytest.raises(ConfigError, match="not found"):
        validate_base_model(broken_folder / "missing")
