"""Asking a chat backend a question, closed-book or with retrieved sources, and timing each stage."""

from __future__ import annotations

import time

from evals.core.types import Answer, QAItem, RetrievedContext
from strategies.backends.base import ChatBackend, ChatMessage
from strategies.prompts import clean_answer, closed_book_messages, rag_messages
from strategies.retrieval.hybrid_search import Retriever


def generate(backend: ChatBackend, messages: list[ChatMessage], max_tokens: int, temperature: float) -> Answer:
    """One completion as an `Answer`: cleaned text, usage, a `generate` timing, raw text and citations."""
    completion = backend.complete(messages, max_tokens=max_tokens, temperature=temperature)
    text, citations = clean_answer(completion.text)
    return Answer(
        text=text,
        usage=completion.usage,
        timings={"generate": completion.seconds},
        model=completion.model,
        metadata={"raw_text": completion.text, "cited_sources": citations},
    )


def answer_closed_book(
    backend: ChatBackend, item: QAItem, max_tokens: int, temperature: float, worked_example: bool = True
) -> Answer:
    return generate(backend, closed_book_messages(item.question, worked_example), max_tokens, temperature)


def retrieve(retriever: Retriever, question: str, top_k: int) -> tuple[list[RetrievedContext], float]:
    started = time.perf_counter()
    contexts = retriever.search(question, top_k)
    return contexts, time.perf_counter() - started


def answer_with_sources(
    backend: ChatBackend, item: QAItem, contexts: list[RetrievedContext], max_tokens: int, temperature: float
) -> Answer:
    """Answer from numbered sources; cited source numbers are mapped back to document ids."""
    answer = generate(backend, rag_messages(item.question, contexts), max_tokens, temperature)
    cited = [contexts[n - 1].doc_id for n in answer.metadata["cited_sources"] if 1 <= n <= len(contexts)]
    return answer.model_copy(update={"contexts": contexts, "metadata": {**answer.metadata, "cited_doc_ids": cited}})
