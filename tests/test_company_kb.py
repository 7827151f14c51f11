"""The synthetic company-kb dataset: deterministic generation, exactly the stated share of changed facts,
paraphrased test questions, and both snapshots load in the harness."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evals.data import load_dataset, shipped_datasets

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
GENERATOR = DATASETS / "company-kb" / "generate.py"
FILES = ["corpus.jsonl", "train.jsonl", "test.jsonl", "facts.jsonl", "dataset.toml"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def generate(out: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out), *args], check=True, capture_output=True)


def test_regenerating_writes_the_committed_bytes(tmp_path: Path) -> None:
    generate(tmp_path)
    for version in ("v1", "v2"):
        for name in FILES:
            shipped = (DATASETS / f"company-kb-{version}" / name).read_bytes()
            assert (tmp_path / f"company-kb-{version}" / name).read_bytes() == shipped, f"{version}/{name}"


def test_v2_changes_exactly_the_stated_share_of_facts() -> None:
    facts = read_jsonl(DATASETS / "company-kb-v2" / "facts.jsonl")
    changed = {fact["fact_id"] for fact in facts if fact["changed"]}
    assert len(facts) == 60 and len(changed) == round(0.3 * 60) == 18
    assert all((fact["v1"] != fact["v2"]) == fact["changed"] for fact in facts)
    for split in ("train", "test"):
        v1 = {item["id"]: item for item in read_jsonl(DATASETS / "company-kb-v1" / f"{split}.jsonl")}
        v2 = {item["id"]: item for item in read_jsonl(DATASETS / "company-kb-v2" / f"{split}.jsonl")}
        assert v1.keys() == v2.keys()
        for item_id, item in v2.items():
            assert item["question"] == v1[item_id]["question"]
            assert item["changed"] == (item["fact_id"] in changed) == (item["answers"] != v1[item_id]["answers"])
    documents_v1 = {d["id"]: d["text"] for d in read_jsonl(DATASETS / "company-kb-v1" / "corpus.jsonl")}
    documents_v2 = {d["id"]: d["text"] for d in read_jsonl(DATASETS / "company-kb-v2" / "corpus.jsonl")}
    changed_docs = {fact["doc_id"] for fact in facts if fact["changed"]}
    assert {doc_id for doc_id in documents_v1 if documents_v1[doc_id] != documents_v2[doc_id]} == changed_docs
    for fact in facts:  # each snapshot's document states its own value
        documents = {"v1": documents_v1, "v2": documents_v2}
        assert all(fact[version] in documents[version][fact["doc_id"]] for version in ("v1", "v2"))


def test_the_share_is_a_parameter(tmp_path: Path) -> None:
    generate(tmp_path, "--changed-share", "0.5", "--seed", "3")
    facts = read_jsonl(tmp_path / "company-kb-v2" / "facts.jsonl")
    assert sum(fact["changed"] for fact in facts) == 30


def test_test_questions_use_templates_train_never_uses() -> None:
    train = read_jsonl(DATASETS / "company-kb-v1" / "train.jsonl")
    test = read_jsonl(DATASETS / "company-kb-v1" / "test.jsonl")
    train_questions = {item["question"] for item in train}
    assert len(train) == 150 and len(test) == 60
    assert {item["fact_id"] for item in test} == {item["fact_id"] for item in train}
    assert not train_questions & {item["question"] for item in test}
    spec = importlib.util.spec_from_file_location("company_kb_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the module runs
    spec.loader.exec_module(module)
    for train_templates, test_templates in (
        (module.PRICE_TRAIN, module.PRICE_TEST),
        (module.SPEC_TRAIN, module.SPEC_TEST),
        (module.FACT_TRAIN, module.FACT_TEST),
    ):
        assert set(train_templates).isdisjoint(test_templates)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_harness_loads_both_snapshots(version: str) -> None:
    name = f"company-kb-{version}"
    assert name in shipped_datasets()
    dataset = load_dataset(name)
    assert (len(dataset.corpus), len(dataset.train), len(dataset.test)) == (60, 150, 60)
    assert dataset.squad_version == "1.1"
    assert all(len(item.gold_doc_ids) == 1 for item in (*dataset.train, *dataset.test))
    assert dataset.card is not None and "synthetic" in dataset.card
