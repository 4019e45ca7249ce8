"""Retrieval legs: lexical (tantivy BM25) and dense (embeddings)."""
