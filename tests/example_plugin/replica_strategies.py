"""Strategies that make the Ray executor's guarantees observable: how often setup really ran, a replica
process that dies mid-item, a replica whose own setup fails."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

from evals.core.strategy import Strategy, StrategyParams, UpdatePath
from evals.core.types import Answer, Document, QAItem, SetupReport


class TrainedReaderParams(StrategyParams):
    die_on: str | None = None
    """An item id whose first answer kills the replica's process (as a lost node would)."""
    die_always_on: str | None = None
    """An item id that kills the replica's process every time it is answered (a poison item)."""
    fail_setup_in_replicas: bool = False
    fail_first_replica: bool = False
    """The first replica to prepare fails (the others, and the driver, succeed)."""


class TrainedReader(Strategy):
    """ "Trains" once per cache folder (an artifact file, like a cached LoRA adapter) and records every real
    training in `trainings.log`; answers with the first sentence of the gold document."""

    Params = TrainedReaderParams
    params: TrainedReaderParams

    def prepare(self, train: Sequence[QAItem], corpus: Sequence[Document]) -> SetupReport:
        in_replica = os.environ.get("EVALS_REPLICA_TEST_DRIVER") != str(os.getpid())
        if self.params.fail_setup_in_replicas and in_replica:
            raise RuntimeError("GPU not found on this replica")
        folder = self.context.cache_dir / "trained_reader"
        folder.mkdir(parents=True, exist_ok=True)
        if self.params.fail_first_replica and in_replica:
            try:
                (folder / "first-replica").touch(exist_ok=False)  # only one process wins the race
            except FileExistsError:
                pass
            else:
                raise RuntimeError("out of memory on this replica")
        self.documents = {document.id: document.text for document in corpus}
        artifact = folder / "adapter.bin"
        if artifact.exists():
            return SetupReport(cached=True)
        with (folder / "trainings.log").open("a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\n")
        artifact.write_bytes(b"weights")
        return SetupReport(seconds=0.01, training_tokens=len(train))

    def answer(self, item: QAItem) -> Answer:
        marker = self.context.cache_dir / "trained_reader" / f"died-{item.id}"
        if item.id == self.params.die_always_on:
            os.kill(os.getpid(), signal.SIGKILL)
        if item.id == self.params.die_on and not marker.exists():
            marker.write_text("once", encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
        text = self.documents[item.gold_doc_ids[0]].split(". ")[0] if item.gold_doc_ids else ""
        return Answer(text=text)

    def update_path(self) -> UpdatePath:
        return "retrain+reindex"


def trainings(cache_dir: Path) -> int:
    """How many times `TrainedReader` really trained with this cache folder."""
    log = cache_dir / "trained_reader" / "trainings.log"
    return len(log.read_text(encoding="utf-8").split()) if log.exists() else 0
