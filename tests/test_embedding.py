import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from rolecall.embedding.sentence import SentenceTransformerEmbedder, default_embedder
from rolecall.errors import ConfigurationError, EmbeddingError, MissingDependencyError

TEXTS = ["a drug that treats headaches", "Aaron, but don't mention Moses", "x " * 300]


def _reference(e: SentenceTransformerEmbedder) -> np.ndarray:
    ref: np.ndarray = e._load().encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    return ref


def test_direct_query_path_matches_sentence_transformers() -> None:
    e = SentenceTransformerEmbedder(query_runtime="torch")
    direct = e.encode(TEXTS)
    reference = _reference(e)
    assert e.query_runtime == "torch" and e._direct is not None
    assert e._direct.lean, "MiniLM should run through the lean BERT forward"
    assert direct.shape == (3, 384) and direct.dtype == np.float32
    assert np.abs(direct - reference).max() < 1e-5
    big = e.encode(TEXTS * 4)  # more than a query's worth goes through model.encode
    assert np.abs(big[:3] - reference).max() < 1e-5


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROLECALL_HOME", str(tmp_path))
    return tmp_path


def test_onnx_query_path_matches_and_caches_its_export(home: Path) -> None:
    e = SentenceTransformerEmbedder(query_runtime="onnx")
    got = e.encode(TEXTS)
    assert e.query_runtime == "onnx" and e.query_runtime_note == ""
    assert got.shape == (3, 384) and got.dtype == np.float32
    assert np.abs(got - _reference(e)).max() < 1e-5
    [graph] = (home / "onnx").glob("*.onnx")
    stamp = graph.stat().st_mtime_ns
    again = SentenceTransformerEmbedder(query_runtime="auto")
    assert np.abs(again.encode(TEXTS[:1]) - got[:1]).max() < 1e-5
    assert again.query_runtime == "onnx" and graph.stat().st_mtime_ns == stamp  # reused
    # A damaged cached graph is exported anew, not trusted and not fatal.
    graph.write_bytes(b"not an onnx graph")
    healed = SentenceTransformerEmbedder(query_runtime="onnx")
    assert np.abs(healed.encode(TEXTS) - got).max() < 1e-5
    assert graph.stat().st_size > 1_000_000


def test_onnx_runtime_missing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r"rolecall\[onnx\]"):
        SentenceTransformerEmbedder(query_runtime="onnx").encode(["q"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not installed is a choice, not a warning
        auto = SentenceTransformerEmbedder(query_runtime="auto")
        vec = auto.encode(["q"])
    assert auto.query_runtime == "torch" and "rolecall[onnx]" in auto.query_runtime_note
    assert vec.shape == (1, 384)


def test_query_runtime_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="query_runtime"):
        SentenceTransformerEmbedder(query_runtime="tpu")  # type: ignore[arg-type]
    monkeypatch.setenv("ROLECALL_QUERY_RUNTIME", "gpu")
    with pytest.raises(ConfigurationError, match="ROLECALL_QUERY_RUNTIME"):
        SentenceTransformerEmbedder()


def test_default_embedder_reports_its_query_runtime() -> None:
    e = default_embedder()
    e.encode(["q"])
    assert e.query_runtime in ("onnx", "torch")
    assert e.query_runtime == "onnx" or e.query_runtime_note


def test_onnx_is_cpu_only() -> None:
    # No GPU here to load onto: the device check comes before the model is touched.
    with pytest.raises(ConfigurationError, match="runs on the CPU"):
        SentenceTransformerEmbedder(query_runtime="onnx", device="cuda:0")._use_onnx(None, None)
    auto = SentenceTransformerEmbedder(query_runtime="auto", device="cuda")
    auto._use_onnx(None, None)
    assert "'cuda'" in auto.query_runtime_note


def _native_bf16() -> bool:
    import torch

    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check and check())


BATCH = [f"document {i}: aspirin treats headache but causes bleeding in {i} trials" for i in
         range(20)] + TEXTS  # more than a query's worth: the batch path


def test_bfloat16_bulk_encoding_stays_within_rounding_of_float32() -> None:
    e = SentenceTransformerEmbedder(query_runtime="torch", bulk_precision="bfloat16")
    got = e.encode(BATCH)
    want = SentenceTransformerEmbedder(query_runtime="torch").encode(BATCH)
    if not _native_bf16():  # emulated bfloat16 is slower: refused, and said why
        assert e.bulk_precision == "float32" and "native bfloat16" in e.bulk_precision_note
        return
    assert e.bulk_precision == "bfloat16" and e.bulk_precision_note == ""
    assert got.dtype == np.float32 and got.shape == want.shape
    cos = (got * want).sum(axis=1)
    assert cos.min() > 0.999 and np.abs(got - want).max() > 0  # close, and really bfloat16
    assert np.abs(e.encode(TEXTS[:2]) - want[-3:-1]).max() < 1e-5  # queries stay float32


def test_bfloat16_that_drifts_falls_back_to_float32_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rolecall.embedding.sentence as embedding

    if not _native_bf16():
        pytest.skip("needs a CPU with native bfloat16 to reach the drift check")
    monkeypatch.setattr(embedding, "_BF16_MIN_COSINE", 1.5)  # no rounding passes this
    e = SentenceTransformerEmbedder(query_runtime="torch", bulk_precision="bfloat16")
    with pytest.warns(RuntimeWarning, match="stays float32"):
        got = e.encode(BATCH)
    assert e.bulk_precision == "float32" and "drift" in e.bulk_precision_note
    want = SentenceTransformerEmbedder(query_runtime="torch").encode(BATCH)
    assert np.abs(got - want).max() < 1e-5


def test_bulk_precision_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="bulk_precision"):
        SentenceTransformerEmbedder(bulk_precision="int8")  # type: ignore[arg-type]
    monkeypatch.setenv("ROLECALL_BULK_PRECISION", "fp16")
    with pytest.raises(ConfigurationError, match="ROLECALL_BULK_PRECISION"):
        SentenceTransformerEmbedder()


def test_a_model_that_fails_to_load_is_an_embedding_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    e = SentenceTransformerEmbedder(str(broken))
    with pytest.raises(EmbeddingError, match="'broken-model'") as info:
        e.encode(["q"])
    assert info.value.model == "broken-model" and isinstance(info.value.__cause__, OSError)
    with pytest.raises(EmbeddingError, match="could not be loaded") as missing:
        SentenceTransformerEmbedder(str(tmp_path / "nowhere"), name="mine").encode(["q"])
    assert missing.value.model == "mine"


def test_an_encoding_failure_is_an_embedding_error_and_a_wrong_type_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    e = default_embedder()
    e.encode(["q"])  # loaded

    def fail(texts: list[str]) -> np.ndarray:
        raise RuntimeError("the runtime gave up")

    monkeypatch.setattr(e, "_direct", fail)
    with pytest.raises(EmbeddingError, match="the runtime gave up") as info:
        e.encode(["q"])
    assert info.value.model == e.name
    with pytest.raises(TypeError):  # rolecall's own mistake: not dressed up as a model failure
        e.encode([None])  # type: ignore[list-item]
