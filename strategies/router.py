"""The hybrid strategy's query router: is a question standard, complex, or in between?

- `similarity`: a question close to the training questions (max cosine similarity of
  all-MiniLM-L6-v2 embeddings ≥ `standard_above`) is standard, the fine-tuned model's home
  ground; one far from all of them (< `complex_below`) is complex and goes to RAG; the rest
  get both (the fine-tuned model answering from retrieved sources).
- `rules`: surface features: comparisons, explanations and long multi-clause questions are
  complex; short factoid questions (who/when/how many/what year) are standard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from evals.core.types import QAItem
from strategies.retrieval.embeddings import Embedder

Route = Literal["standard", "complex", "combined"]
_COMPLEX = re.compile(
    r"\b(why|explain|compare|compared|difference|differ|versus|vs\.?|relationship|how does|how do|how did)\b", re.I
)
_FACTOID = re.compile(r"^(who|whom|when|where|what year|how many|how much|which)\b", re.I)


class RouterParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["similarity", "rules"] = "similarity"
    standard_above: float = Field(default=0.8, ge=-1, le=1)
    complex_below: float = Field(default=0.6, ge=-1, le=1)
    long_question_words: int = Field(default=18, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RouterParams:
        if self.complex_below > self.standard_above:
            raise ValueError("complex_below must not exceed standard_above")
        return self


class QueryRouter:
    """Routes questions; `fit` on the training questions first in `similarity` mode."""

    def __init__(self, params: RouterParams, embedder: Embedder | None = None) -> None:
        self.params = params
        self.embedder = embedder
        self._train_vectors: np.ndarray | None = None

    def fit(self, train: Sequence[QAItem]) -> None:
        if self.params.mode == "similarity":
            if self.embedder is None:
                raise ValueError("similarity routing needs an embedder")
            self._train_vectors = self.embedder.embed([item.question for item in train])

    def similarity(self, question: str) -> float:
        """Max cosine similarity to a training question (NaN without training questions)."""
        if self._train_vectors is None or len(self._train_vectors) == 0 or self.embedder is None:
            return float("nan")
        vector = self.embedder.embed([question])[0]
        return float(np.max(self._train_vectors @ vector))

    def route(self, question: str) -> tuple[Route, dict[str, float]]:
        """The route and the evidence for it (similarity score or rule features)."""
        if self.params.mode == "rules":
            return self._route_by_rules(question), {"words": float(len(question.split()))}
        score = self.similarity(question)
        if np.isnan(score):
            return "combined", {"similarity": score}
        if score >= self.params.standard_above:
            return "standard", {"similarity": score}
        if score < self.params.complex_below:
            return "complex", {"similarity": score}
        return "combined", {"similarity": score}

    def _route_by_rules(self, question: str) -> Route:
        if _COMPLEX.search(question) or len(question.split()) >= self.params.long_question_words:
            return "complex"
        if _FACTOID.search(question.strip()):
            return "standard"
        return "combined"
