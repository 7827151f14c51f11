"""Split documents into retrievable chunks (whole documents, sentences, or word windows)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evals.core.types import Document

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


class Chunk(BaseModel):
    """A piece of one document; `doc_id` points back to it for retrieval metrics."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    index: int
    text: str


class ChunkingParams(BaseModel):
    """`document`: one chunk per document; `sentence`: one per sentence; `words`: windows of
    `size` words overlapping by `overlap` words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["document", "sentence", "words"] = "document"
    size: int = Field(default=200, ge=1)
    overlap: int = Field(default=40, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingParams:
        if self.overlap >= self.size:
            raise ValueError("overlap must be smaller than size")
        return self


def split_sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in _SENTENCE_END.split(text) if sentence.strip()]


def chunk_documents(documents: Sequence[Document], params: ChunkingParams) -> list[Chunk]:
    """Chunks of every document, in corpus order."""
    chunks: list[Chunk] = []
    for document in documents:
        if params.mode == "document":
            pieces = [document.text]
        elif params.mode == "sentence":
            pieces = split_sentences(document.text)
        else:
            words = document.text.split()
            step = params.size - params.overlap
            pieces = [
                " ".join(words[start : start + params.size])
                for start in range(0, max(len(words) - params.overlap, 1), step)
            ]
        chunks.extend(Chunk(doc_id=document.id, index=index, text=piece) for index, piece in enumerate(pieces))
    return chunks
