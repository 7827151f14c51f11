"""Retrieval over a corpus: chunking, BM25 and dense (FAISS) indexes."""
