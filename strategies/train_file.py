"""A user's own fine-tuning data: a JSONL file of question/answer pairs or of chat conversations.

Each line is one of
- `{"question": "...", "answer": "..."}` (also `prompt`/`completion`);
- `{"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}, ...]}`, OpenAI's
  chat fine-tuning format: an optional system message, then user and assistant turns ending with the assistant's
  answer, which is what the model learns (earlier turns are context).

Errors name the file, the line and the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.core.errors import ConfigError
from strategies.lora_training import ChatTurn, TrainingExample

PAIR_FIELDS = (("question", "answer"), ("prompt", "completion"))


def read_train_file(path: Path) -> list[TrainingExample]:
    """Every example in the JSONL file at `path` (blank lines skipped); ConfigError at the first bad line."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"finetune.train_file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read finetune.train_file {path}: {error}") from None
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ConfigError(f"{where}: not valid JSON: {error}") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(record).__name__}")
        examples.append(_chat_example(record["messages"], where) if "messages" in record else _pair(record, where))
    if not examples:
        raise ConfigError(f"finetune.train_file {path} has no examples")
    return examples


def _pair(record: dict[str, Any], where: str) -> TrainingExample:
    for prompt_field, answer_field in PAIR_FIELDS:
        if prompt_field in record:
            return TrainingExample(
                prompt=_text(record, prompt_field, where), completion=_text(record, answer_field, where)
            )
    raise ConfigError(f"{where}: expected `messages`, `question` + `answer`, or `prompt` + `completion`")


def _chat_example(messages: Any, where: str) -> TrainingExample:
    if not isinstance(messages, list) or not messages:
        raise ConfigError(f"{where}: `messages` must be a non-empty list")
    turns = [_message(message, f"{where}: messages[{index}]") for index, message in enumerate(messages)]
    system = turns.pop(0)[1] if turns[0][0] == "system" else None
    roles = [role for role, _ in turns]
    expected = ["user", "assistant"] * (len(turns) // 2)
    if len(turns) < 2 or roles != expected:
        raise ConfigError(
            f"{where}: `messages` must be an optional system message, then user and assistant turns in turn, "
            f"ending with the assistant's answer (got roles {roles})"
        )
    history = tuple(ChatTurn(role=role, content=content) for role, content in turns[:-2])  # type: ignore[arg-type]
    return TrainingExample(prompt=turns[-2][1], completion=turns[-1][1], system=system, history=history)


def _message(message: Any, where: str) -> tuple[str, str]:
    if not isinstance(message, dict):
        raise ConfigError(f"{where}: expected an object with `role` and `content`")
    role = message.get("role")
    if role not in ("system", "user", "assistant"):
        raise ConfigError(f"{where}.role: expected system, user or assistant, got {role!r}")
    return role, _text(message, "content", where)


def _text(record: dict[str, Any], field: str, where: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: `{field}` must be a non-empty string")
    return value
