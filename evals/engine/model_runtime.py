"""Process settings the model libraries read, applied when a run starts (never at import).

Only defaults are set (`os.environ.setdefault`), so a user's own setting always wins.
"""

from __future__ import annotations

import os

MODEL_RUNTIME_DEFAULTS = {
    # Idle OpenMP threads (torch: embeddings, fine-tuning) otherwise busy-wait and steal the cores llama.cpp
    # generates on: measured 50x slower single-query embedding on 2 cores.
    "OMP_WAIT_POLICY": "PASSIVE",
    # The runner draws one progress display; the model libraries' per-file and per-batch bars only add noise.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TQDM_DISABLE": "1",
}


OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RAGAS_DO_NOT_TRACK": "true",
    "TOKENIZERS_PARALLELISM": "false",
}
"""What keeps the model libraries off the network (and ragas from reporting usage): set by the tests and the
benchmarks for every process they start, never by a run (a user's hub ids must resolve)."""


def configure_model_runtime() -> dict[str, str]:
    """Apply the defaults not already set, and switch off the progress bars of the Hugging Face libraries
    already imported (they read the environment at import); returns the variables applied."""
    applied = {name: value for name, value in MODEL_RUNTIME_DEFAULTS.items() if name not in os.environ}
    os.environ.update(applied)
    if "HF_HUB_DISABLE_PROGRESS_BARS" in applied:
        import huggingface_hub.utils

        import datasets

        huggingface_hub.utils.disable_progress_bars()  # transformers takes its setting from here
        datasets.disable_progress_bars()
    return applied
