"""Where a run happened: git commit, package versions, host."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_PACKAGES = (
    "rag-or-finetune",
    "datasets",
    "pandas",
    "numpy",
    "scipy",
    "pydantic",
    "openai",
    "ragas",
    "faiss-cpu",
    "llama_cpp_python",
    "sentence-transformers",
    "transformers",
    "peft",
    "torch",
    "bm25s",
)


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout holding `directory`; (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def host_description() -> str:
    return f"{platform.node()} {platform.system()} {platform.machine()} python {platform.python_version()}"
