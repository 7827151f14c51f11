"""Question clusters (from SQuAD paragraphs and articles, a mapped column, or none), their place in results
and the leaderboard, and `evals plan` on a real pilot run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from evals import RunSettings, run_suite
from evals.core.errors import DatasetError
from evals.core.suite import Suite
from evals.data.spec import load_dataset, shipped_spec, validate_spec
from evals.results.run_store import RunStore, runs_dir

ROWS = [
    {
        "id": f"q{index}",
        "question": f"Who made widget {index}?",
        "answers": [f"maker {index % 3}"],
        "topic": f"t{index % 3}",
    }
    for index in range(12)
]


def write_jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def test_squad_questions_cluster_by_paragraph_or_article() -> None:
    by_paragraph = load_dataset("squad-mini")
    clusters = {by_paragraph.cluster_of(item) for item in by_paragraph.test}
    assert all(cluster.startswith("doc:") for cluster in clusters)
    assert len(clusters) < len(by_paragraph.test)  # several questions share a paragraph
    item = by_paragraph.test[0]
    assert by_paragraph.cluster_of(item) == f"doc:{item.gold_doc_ids[0]}"
    by_article = load_dataset(shipped_spec("squad-mini").model_copy(update={"cluster_by": "article"}))
    articles = {by_article.cluster_of(item) for item in by_article.test}
    assert 1 < len(articles) <= 8 < len(clusters)  # the subset has 8 articles
    alone = load_dataset(shipped_spec("squad-mini").model_copy(update={"cluster_by": "none"}))
    assert len({alone.cluster_of(item) for item in alone.test}) == len(alone.test)


def test_a_mapped_column_clusters_table_rows(tmp_path: Path) -> None:
    spec = validate_spec(
        {"name": "t", "source": "q.jsonl", "test_fraction": 0.5, "columns": {"cluster": "topic"}}, tmp_path, "t"
    )
    write_jsonl(tmp_path / "q.jsonl")
    dataset = load_dataset(spec)
    assert {dataset.cluster_of(item) for item in dataset.test} <= {"column:t0", "column:t1", "column:t2"}
    unclustered = load_dataset(validate_spec({"name": "t", "source": "q.jsonl", "test_fraction": 0.5}, tmp_path, "t"))
    assert {unclustered.cluster_of(item) for item in unclustered.test} == {f"item:{i.id}" for i in unclustered.test}
    assert dataset.fingerprint != unclustered.fingerprint  # the cluster column is part of the content


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cluster_by": "column"}, 'cluster_by = "column" needs the column named'),
        ({"columns": {"cluster": "nope"}}, "missing column(s) 'nope'"),
        ({"cluster_by": "paragraph"}, 'cluster_by = "paragraph" needs gold documents'),
        ({"cluster_by": "sentence"}, "cluster_by"),
    ],
)
def test_bad_cluster_settings_are_clear_errors(tmp_path: Path, extra: dict, message: str) -> None:
    write_jsonl(tmp_path / "q.jsonl")
    with pytest.raises(DatasetError) as error:
        load_dataset(validate_spec({"name": "t", "source": "q.jsonl", "test_fraction": 0.5, **extra}, tmp_path, "t"))
    assert message in str(error.value)


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real run of two strategies on 40 squad-mini questions: the pilot `evals plan` sizes from."""
    folder = tmp_path_factory.mktemp("plan") / "results"
    suite = Suite.model_validate(
        {
            "name": "pilot",
            "datasets": [{"name": "squad-mini", "limit": 40}],
            "strategies": [{"name": "extractive_bm25"}, {"name": "first_sentence"}],
        }
    )
    settings = RunSettings(results_dir=folder, cache_dir=folder.parent / "cache", show_progress=False)
    return folder, run_suite(suite, settings).manifest.run_id


def test_items_and_leaderboard_carry_clusters(pilot: tuple[Path, str]) -> None:
    folder, run_id = pilot
    items = RunStore(runs_dir(folder) / run_id).read_items()
    assert all(item.cluster and item.cluster.startswith("doc:") for item in items)
    board = pd.read_csv(folder / "leaderboard.csv")
    assert {"n_clusters", "f1_se", "exact_match_se"} <= set(board.columns)
    row = board.iloc[0]
    assert 1 < row["n_clusters"] < row["n_items"] == 40
    assert row["f1_ci_low"] <= row["f1"] <= row["f1_ci_high"] and row["f1_se"] > 0


def test_plan_sizes_a_test_set_from_the_pilot(pilot: tuple[Path, str]) -> None:
    folder, run_id = pilot
    small = run_cli("plan", run_id, "--effect", "0.2", "--results-dir", str(folder), "--json", cwd=folder.parent)
    large = run_cli("plan", run_id, "--effect", "0.05", "--results-dir", str(folder), "--json", cwd=folder.parent)
    assert small.returncode == 0 and large.returncode == 0, small.stderr + large.stderr
    (easy,), (hard,) = json.loads(small.stdout)["pairs"], json.loads(large.stdout)["pairs"]
    assert (easy["a"], easy["b"], easy["pilot_questions"]) == ("extractive_bm25", "first_sentence", 40)
    assert hard["clusters_needed"] > easy["clusters_needed"]
    # a quarter of the effect needs about sixteen times the clusters (the SE shrinks with their square root)
    assert hard["clusters_needed"] == pytest.approx(16 * easy["clusters_needed"], rel=0.15)
    assert hard["questions_needed"] >= hard["clusters_needed"]
    table = run_cli("plan", run_id, "--effect", "0.05", "--results-dir", str(folder), cwd=folder.parent)
    assert "first_sentence" in table.stdout and str(hard["questions_needed"]) in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategies", "extractive_bm25"], "planning compares two strategies"),
        (["--strategies", "extractive_bm25", "--strategies", "nope"], "has no strategy nope"),
        (["--effect", "0"], "--effect must be a positive"),
        (["--metric", "bleu"], "has no metric 'bleu'"),
    ],
)
def test_plan_bad_inputs_exit_2(pilot: tuple[Path, str], args: list[str], message: str) -> None:
    folder, run_id = pilot
    effect = [] if "--effect" in args else ["--effect", "0.05"]
    result = run_cli("plan", run_id, *effect, *args, "--results-dir", str(folder), cwd=folder.parent)
    assert result.returncode == 2 and message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.stderr
