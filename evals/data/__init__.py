"""Datasets: typed QA items and corpora loaded from SQuAD JSON, local tables or the HF hub."""

from evals.data.dataset import QADataset
from evals.data.spec import ColumnMapping, DatasetSpec, load_dataset, shipped_datasets

__all__ = ["ColumnMapping", "DatasetSpec", "QADataset", "load_dataset", "shipped_datasets"]
