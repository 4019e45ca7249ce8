import numpy as np
from rolecall.embedding import default_embedder


def test_direct_query_path_matches_sentence_transformers() -> None:
    e = default_embedder()
    texts = ["a drug that treats headaches", "Aaron, but don't mention Moses", "x " * 300]
    direct = e.encode(texts)
    model = e._load()
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert e._direct is not None
    assert e._direct.lean, "MiniLM should run through the lean BERT forward"
    assert direct.shape == (3, 384) and direct.dtype == np.float32
    assert np.abs(direct - reference).max() < 1e-5
    big = e.encode(texts * 4)  # more than a query's worth goes through model.encode
    assert np.abs(big[:3] - reference).max() < 1e-5
