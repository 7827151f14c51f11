"""Base models for fine-tuning: a GGUF file or a Hugging Face model folder (safetensors + tokenizer + chat template).

`validate_base_model` says what is missing from a folder before any training starts; `base_model_sha256` is the
content identity adapters are cached under; `export_hf_copy` writes an HF-format copy of a GGUF model (how the
tests and the `hf-smollm2` example suite get an HF folder without a model hub):

    python -m strategies.hf_models models/SmolLM2-135M-Instruct-hf      # copy of the embedded model
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Literal

from evals.core.errors import ConfigError
from evals.infra.hashing import file_sha256
from strategies.backends.model_files import default_generator_path, validate_gguf_path

BaseModelKind = Literal["gguf", "hf"]

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def base_model_kind(path: Path) -> BaseModelKind:
    """ "hf" for a directory, "gguf" for a file; ConfigError when the path does not exist."""
    path = Path(path).expanduser()
    if path.is_dir():
        return "hf"
    if path.is_file():
        return "gguf"
    raise ConfigError(f"base model not found: {path} (expected a GGUF file or a Hugging Face model folder)")


def validate_base_model(path: Path) -> Path:
    """`path` if it is a usable base model; otherwise a ConfigError that names the missing piece."""
    path = Path(path).expanduser()
    if base_model_kind(path) == "gguf":
        return validate_gguf_path(path, what="base model")
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    if not any(any(path.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"a tokenizer ({', '.join(TOKENIZER_FILES)})")
    if missing:
        raise ConfigError(f"Hugging Face model folder {path} is incomplete: it lacks {'; '.join(missing)}")
    if not _has_chat_template(path):
        raise ConfigError(
            f"Hugging Face model folder {path} has no chat template (chat_template.jinja, or `chat_template` in "
            "tokenizer_config.json): fine-tuning renders questions with the model's own template, the way the "
            "serving runtime does; use an instruction-tuned model or add its template"
        )
    return path


def base_model_sha256(path: Path) -> str:
    """The model's content identity: a GGUF file's sha256, or a sha256 over a folder's files and their sha256s."""
    path = Path(path).expanduser()
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def export_hf_copy(gguf_path: Path, out_dir: Path) -> Path:
    """Write `gguf_path` as a Hugging Face folder (fp32 safetensors, tokenizer, chat template); returns `out_dir`.

    transformers dequantizes the GGUF on load; its GGUF quantizer marks the model unserializable, though the
    weights it holds are plain fp32 tensors by then, so the marker is dropped before saving."""
    from strategies.lora_training import load_base_model

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ConfigError(f"{out_dir} already exists: remove it or choose another folder for the copy")
    model, tokenizer = load_base_model(validate_gguf_path(gguf_path))
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    partial.replace(out_dir)
    return validate_base_model(out_dir)


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {config}: {error}") from error


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


if __name__ == "__main__":
    from evals.engine.model_runtime import configure_model_runtime

    configure_model_runtime()
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m strategies.hf_models OUT_DIR [GGUF_FILE]   (default GGUF: the embedded SmolLM2)")
    try:
        source = Path(sys.argv[2]) if len(sys.argv) == 3 else default_generator_path()
        print(export_hf_copy(source, Path(sys.argv[1])))
    except ConfigError as error:
        sys.exit(f"error: {error}")
