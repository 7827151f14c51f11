"""The default offline `faithfulness` score: P(a person calls the answer supported by its contexts).

Two lexical features, standardised and combined by an L2-regularised logistic regression (scikit-learn,
C fixed at 1 in advance, so nothing is tuned by hand):

- `claim_support`: lexical claim support of the answer (evals/scoring/claim_support.py), 0 when undefined;
- `unsupported_words`: log(1 + the number of the answer's content words in neither the question nor a context).

The shipped weights (faithfulness_weights.json) are fitted on all of datasets/judge-validation (HaluEval QA
and BEGIN); `python -m evals.scoring.faithfulness_model` refits them. The figures to quote come from
`evals validate-judge`, which refits the model within each cross-validation fold.

Candidates measured by that protocol and left out: plain lexical overlap as a third feature (fitted with a
negative weight next to claim support, and lowered HaluEval when fitted on BEGIN), and MiniLM claim-to-passage
alignment (max cosine of each answer sentence against the context sentences): within one source it changed
little, but fitted on HaluEval it dropped BEGIN's ROC-AUC from 0.956 to 0.66, and fitted on BEGIN it dropped
HaluEval's pairwise accuracy from 0.960 to 0.91, because a hallucinated full sentence embeds closer to its
passage than a right short span does.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from evals.core.errors import ConfigError, DatasetError
from evals.infra.hashing import file_sha256
from evals.scoring.claim_support import claim_support, unsupported_words
from evals.scoring.judge_data import LabelledAnswer, Metric, load_labelled

FEATURES = ("claim_support", "unsupported_words")
REGULARISATION_C = 1.0
"""scikit-learn's default inverse L2 strength, fixed before any validation (not chosen on the data)."""
WEIGHTS_PATH = Path(__file__).with_name("faithfulness_weights.json")


class TrainingFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str
    answers: int
    """Labelled answers read from it (two per HaluEval pair)."""


class FaithfulnessWeights(BaseModel):
    """A fitted model: per-feature standardisation, logistic coefficients, and what it was fitted on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    regularisation_c: float
    fitted_on: tuple[TrainingFile, ...] = ()

    def probability(self, answer: str, contexts: Sequence[str], question: str | None = None) -> float:
        """P(supported) for one answer; NaN when the answer or every context is blank."""
        x = features(answer, contexts, question)
        if x is None:
            return math.nan
        z = (np.asarray(x) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.coef) + self.intercept))))


def features(answer: str, contexts: Sequence[str], question: str | None = None) -> tuple[float, ...] | None:
    """The model's feature values for one answer, in FEATURES order; None when the answer or contexts are blank."""
    if not answer.strip() or not any(context.strip() for context in contexts):
        return None
    support = claim_support(answer, contexts, question)
    return (0.0 if math.isnan(support) else support, math.log1p(unsupported_words(answer, contexts, question)))


def fit_weights(rows: Sequence[LabelledAnswer], fitted_on: tuple[TrainingFile, ...] = ()) -> FaithfulnessWeights:
    """Fit the logistic regression on labelled answers (rows whose features are undefined are skipped)."""
    pairs = [(values, row.supported) for row in rows if (values := features(row.answer, row.contexts, row.question))]
    if len({label for _, label in pairs}) < 2:
        raise DatasetError("fitting the faithfulness model needs both supported and unsupported answers")
    x = np.array([values for values, _ in pairs])
    y = np.array([label for _, label in pairs])
    scaler = StandardScaler().fit(x)
    regression = LogisticRegression(C=REGULARISATION_C).fit(scaler.transform(x), y)
    return FaithfulnessWeights(
        features=FEATURES,
        mean=tuple(map(float, scaler.mean_)),
        scale=tuple(map(float, scaler.scale_)),
        coef=tuple(map(float, regression.coef_[0])),
        intercept=float(regression.intercept_[0]),
        regularisation_c=REGULARISATION_C,
        fitted_on=fitted_on,
    )


class FaithfulnessModel:
    """The fittable `faithfulness` metric for `evals validate-judge`: fit on the tune folds, score the rest."""

    __name__ = "faithfulness"

    def fit(self, rows: Sequence[LabelledAnswer]) -> Metric:
        return fit_weights(rows).probability


@lru_cache(maxsize=1)
def shipped_weights() -> FaithfulnessWeights:
    """The weights shipped in WEIGHTS_PATH (read once)."""
    try:
        return FaithfulnessWeights.model_validate_json(WEIGHTS_PATH.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as error:
        raise ConfigError(
            f"{WEIGHTS_PATH}: unreadable faithfulness weights ({error}); "
            "refit them with `python -m evals.scoring.faithfulness_model`"
        ) from None


def faithfulness_score(answer: str, contexts: Sequence[str], question: str | None = None) -> float:
    """P(the answer is supported by `contexts`) under the shipped weights; NaN when either side is blank."""
    return shipped_weights().probability(answer, contexts, question)


def refit(halueval: Path, begin: Path) -> FaithfulnessWeights:
    """Weights fitted on every row of a HaluEval QA file and a BEGIN file."""
    parts = ((halueval, load_labelled(halueval, "halueval")), (begin, load_labelled(begin, "begin")))
    files = tuple(TrainingFile(path=path.name, sha256=file_sha256(path), answers=len(rows)) for path, rows in parts)
    return fit_weights([row for _, rows in parts for row in rows], files)


def main(argv: Sequence[str] | None = None) -> None:
    """Refit the shipped weights: `python -m evals.scoring.faithfulness_model [HALUEVAL BEGIN] [--out FILE]`."""
    data = Path("datasets/judge-validation")
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("halueval", nargs="?", type=Path, default=data / "halueval" / "qa_sample_300.jsonl")
    parser.add_argument("begin", nargs="?", type=Path, default=data / "begin" / "begin_dev_wow.tsv")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    weights = refit(args.halueval, args.begin)
    args.out.write_text(weights.model_dump_json(indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
