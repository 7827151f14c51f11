"""Export a peft LoRA adapter to a GGUF LoRA adapter file that llama.cpp can load.

Follows llama.cpp's `convert_lora_to_gguf.py`: `general.type = "adapter"`,
`adapter.type = "lora"`, `adapter.lora.alpha`, and one `<base tensor>.lora_a` /
`<base tensor>.lora_b` pair per adapted matrix, where lora_a is peft's `lora_A.weight`
(rank x in) and lora_b is peft's `lora_B.weight` (out x rank). llama.cpp scales the
product by `alpha / rank`, as peft does.

llama.cpp's HF-to-GGUF conversion permutes the rows of q_proj/k_proj for its RoPE layout
and transformers undoes that when it loads a GGUF, so an adapter trained in transformers
on q_proj/k_proj must have the same permutation applied to lora_b's rows.

Usage in llama.cpp: `llama_cpp.Llama(model_path=base_gguf, lora_path=adapter_gguf)`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

HF_LORA_NAME = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<part>[AB])(?:\.[^.]+)?\.weight$")
"""peft tensor names, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight."""

ROPE_PERMUTED_ARCHS = frozenset({"llama"})
"""Architectures whose q/k rows llama.cpp's converter permutes (LlamaModel.permute)."""


def llama_rope_permute(rows: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's `LlamaModel.permute`: HF rotate-half row order to GGUF interleaved order.

    `rows` has shape (n_head * head_dim, ...); within each head, row pairs (j, j + d/2)
    become adjacent rows (2j, 2j + 1).
    """
    out = rows.shape[0]
    return rows.reshape(n_head, 2, out // n_head // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def export_lora_gguf(
    peft_dir: Path,
    out_path: Path,
    base_gguf: Path,
    *,
    dtype: Literal["f32", "f16"] = "f32",
    name: str | None = None,
) -> Path:
    """Write the peft adapter in `peft_dir` as a GGUF LoRA adapter for `base_gguf`.

    The base GGUF supplies the architecture, head counts (for the q/k permutation) and
    tensor shapes, which every adapter pair is checked against. Returns `out_path`.
    """
    import gguf

    peft_dir, out_path, base_gguf = Path(peft_dir), Path(out_path), Path(base_gguf)
    config = json.loads((peft_dir / "adapter_config.json").read_text())
    alpha = _gguf_alpha(config)
    base = _BaseInfo.read(base_gguf)
    pairs = _lora_pairs(_load_adapter_tensors(peft_dir))
    arch_ids = {arch_name: arch_id for arch_id, arch_name in gguf.MODEL_ARCH_NAMES.items()}
    if base.arch not in arch_ids:
        raise ValueError(f"unknown GGUF architecture {base.arch!r} in {base_gguf}")
    name_map = gguf.get_tensor_name_map(arch_ids[base.arch], base.n_layer)

    tensors: list[tuple[str, np.ndarray]] = []
    for module, (lora_a, lora_b) in sorted(pairs.items()):
        hf_name = module.removeprefix("base_model.model.") + ".weight"
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight",))
        if gguf_name is None:
            raise ValueError(f"no GGUF tensor for adapted module {module!r}")
        if gguf_name not in base.shapes:
            raise ValueError(f"{gguf_name} is not a tensor of the base model {base_gguf}")
        if base.arch in ROPE_PERMUTED_ARCHS:
            if gguf_name.endswith("attn_q.weight"):
                lora_b = llama_rope_permute(lora_b, base.n_head)
            elif gguf_name.endswith("attn_k.weight"):
                lora_b = llama_rope_permute(lora_b, base.n_head_kv)
        out_features, in_features = base.shapes[gguf_name]
        if lora_a.shape[1] != in_features or lora_b.shape[0] != out_features:
            raise ValueError(
                f"{module}: LoRA delta is {lora_b.shape[0]}x{lora_a.shape[1]},"
                f" base tensor {gguf_name} is {out_features}x{in_features}"
            )
        np_dtype = np.float16 if dtype == "f16" else np.float32
        tensors.append((gguf_name + ".lora_a", np.ascontiguousarray(lora_a, dtype=np_dtype)))
        tensors.append((gguf_name + ".lora_b", np.ascontiguousarray(lora_b, dtype=np_dtype)))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.partial")
    writer = gguf.GGUFWriter(str(partial), base.arch)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(name or peft_dir.name)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
        for tensor_name, data in tensors:
            writer.add_tensor(tensor_name, data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    partial.replace(out_path)
    return out_path


@dataclass(frozen=True)
class _BaseInfo:
    """What the exporter needs from the base GGUF: arch, head counts, tensor shapes."""

    arch: str
    n_layer: int
    n_head: int
    n_head_kv: int
    shapes: dict[str, tuple[int, int]]
    """2-D tensors as (out_features, in_features), i.e. torch order."""

    @classmethod
    def read(cls, path: Path) -> _BaseInfo:
        import gguf

        reader = gguf.GGUFReader(str(path))

        def field(key: str) -> Any:
            value = reader.get_field(key)
            if value is None:
                raise ValueError(f"{path} has no {key} metadata")
            return value.contents()

        arch = str(field(gguf.Keys.General.ARCHITECTURE))
        n_head = int(field(gguf.Keys.Attention.HEAD_COUNT.format(arch=arch)))
        kv_field = reader.get_field(gguf.Keys.Attention.HEAD_COUNT_KV.format(arch=arch))
        n_head_kv = int(kv_field.contents()) if kv_field is not None else n_head
        n_layer = int(field(gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch)))
        # GGUF lists dimensions fastest-first: ne = (in, out) for a weight matrix.
        shapes = {t.name: (int(t.shape[1]), int(t.shape[0])) for t in reader.tensors if len(t.shape) == 2}
        return cls(arch, n_layer, n_head, n_head_kv, shapes)


def _gguf_alpha(config: dict[str, Any]) -> float:
    """The alpha llama.cpp needs so that its alpha/rank scaling equals peft's scaling."""
    if config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"not a LoRA adapter: peft_type={config.get('peft_type')}")
    for unsupported in ("use_dora", "rank_pattern", "alpha_pattern"):
        if config.get(unsupported):
            raise ValueError(f"adapter uses {unsupported}, which llama.cpp cannot load")
    if config.get("bias", "none") != "none":
        raise ValueError("adapter trains biases, which a GGUF LoRA adapter cannot carry")
    alpha, rank = float(config["lora_alpha"]), int(config["r"])
    if config.get("use_rslora"):
        # peft scales by alpha/sqrt(r); llama.cpp by alpha/r.
        return alpha * math.sqrt(rank)
    return alpha


def _load_adapter_tensors(peft_dir: Path) -> dict[str, np.ndarray]:
    safetensors_path = peft_dir / "adapter_model.safetensors"
    if safetensors_path.is_file():
        from safetensors.numpy import load_file

        return {k: v.astype(np.float32) for k, v in load_file(str(safetensors_path)).items()}
    import torch

    state = torch.load(peft_dir / "adapter_model.bin", map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}


def _lora_pairs(tensors: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Group peft tensors into {module: (lora_A (r x in), lora_B (out x r))}."""
    parts: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        match = HF_LORA_NAME.match(key)
        if match is None:
            raise ValueError(f"unexpected tensor {key!r} in adapter (only LoRA A/B supported)")
        if value.ndim != 2:
            raise ValueError(f"{key} is not a matrix")
        parts.setdefault(match["module"], {})[match["part"]] = value
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for module, ab in parts.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"{module} lacks lora_A or lora_B")
        if ab["A"].shape[0] != ab["B"].shape[1]:
            raise ValueError(f"{module}: lora_A and lora_B ranks differ")
        pairs[module] = (ab["A"], ab["B"])
    return pairs
