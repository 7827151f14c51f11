"""Prompts shared by the model-backed strategies, and turning raw replies into scored answers.

Each prompt carries one worked example, which keeps small models to short answers.
The reply is cut to the answer phrase before scoring (first line, first sentence, no
"The answer is:" preamble, no citation marks); the raw reply stays in the item's metadata.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from evals.core.types import RetrievedContext
from strategies.backends.base import ChatMessage

CLOSED_BOOK_SYSTEM = "Answer the question with a short phrase of a few words. No full sentence, no explanation."
RAG_SYSTEM = (
    "Answer the question with a short phrase copied from the numbered sources, "
    "followed by the number of the source in brackets."
)
_EXAMPLE_SOURCES = [
    RetrievedContext(doc_id="example/0", text="The Eiffel Tower in Paris was completed in 1889 for the World's Fair."),
    RetrievedContext(doc_id="example/1", text="Big Ben is the nickname of the great bell of the clock at Westminster."),
]
_CITATION = re.compile(r"\s*\[(\d+)\]")
_PREAMBLE = re.compile(r"^(?:the\s+)?answer(?:\s+to\s+(?:this|your|the)\s+question)?(?:\s+is)?\s*:?\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)]{3})\.\s+(?=[A-Z])")


def closed_book_messages(question: str, worked_example: bool = True) -> list[ChatMessage]:
    """System prompt, optionally one worked example, the question. A fine-tuned model is asked
    without the example, exactly in the format it was trained on."""
    example = [
        ChatMessage(role="user", content="In which city is the Eiffel Tower?"),
        ChatMessage(role="assistant", content="Paris"),
    ]
    return [
        ChatMessage(role="system", content=CLOSED_BOOK_SYSTEM),
        *(example if worked_example else []),
        ChatMessage(role="user", content=question),
    ]


def format_sources(question: str, contexts: Sequence[RetrievedContext]) -> str:
    sources = "\n".join(f"[{number}] {context.text}" for number, context in enumerate(contexts, start=1))
    return f"Sources:\n{sources}\n\nQuestion: {question}"


def rag_messages(
    question: str, contexts: Sequence[RetrievedContext], worked_example: bool = False
) -> list[ChatMessage]:
    """System prompt, optionally one worked example, the numbered sources and the question.

    The example is off by default: a 135M model copies its answer ("1889") into unrelated replies."""
    example = [
        ChatMessage(role="user", content=format_sources("When was the Eiffel Tower completed?", _EXAMPLE_SOURCES)),
        ChatMessage(role="assistant", content="1889 [1]"),
    ]
    return [
        ChatMessage(role="system", content=RAG_SYSTEM),
        *(example if worked_example else []),
        ChatMessage(role="user", content=format_sources(question, contexts)),
    ]


def clean_answer(raw: str) -> tuple[str, list[int]]:
    """The answer phrase to score and the cited source numbers."""
    first_line = next((line for line in raw.strip().splitlines() if line.strip()), "")
    citations = [int(number) for number in _CITATION.findall(first_line)]
    text = _PREAMBLE.sub("", _CITATION.sub("", first_line).strip())
    text = _SENTENCE_END.split(text, maxsplit=1)[0]
    return text.strip().rstrip(".").strip(), list(dict.fromkeys(citations))
