import pytest
from rolecall.errors import InvalidQueryError
from rolecall.pipeline.fusion import apply_penalties, weighted_rrf


def test_rrf_sums_reciprocal_ranks_and_bounds_score() -> None:
    fused = weighted_rrf({"a": [(1, 9.0), (2, 5.0)], "b": [(2, 0.9), (3, 0.5)]},
                         {"a": 1.0, "b": 1.0}, rrf_k=60)
    by = {f.key: f for f in fused}
    best = 2 / 61
    assert by[2].fused == pytest.approx((1 / 62 + 1 / 61) / best)
    assert by[1].fused == pytest.approx((1 / 61) / best)
    assert fused[0].key == 2
    assert all(0.0 <= f.fused <= 1.0 for f in fused)
    assert [ls.leg for ls in by[2].legs] == ["a", "b"]


def test_weights_are_honoured() -> None:
    rankings = {"a": [(1, 1.0), (2, 0.5)], "b": [(2, 1.0), (1, 0.5)]}
    tie = weighted_rrf(rankings, {"a": 1.0, "b": 1.0})
    assert tie[0].fused == pytest.approx(tie[1].fused)
    favour_a = weighted_rrf(rankings, {"a": 2.0, "b": 1.0})
    assert favour_a[0].key == 1
    only_b = weighted_rrf(rankings, {"a": 0.0, "b": 1.0})
    assert only_b[0].key == 2
    assert all(ls.contribution == 0 for f in only_b for ls in f.legs if ls.leg == "a")


def test_duplicates_within_a_leg_keep_their_best_rank() -> None:
    fused = weighted_rrf({"a": [(1, 3.0), (1, 2.0), (2, 1.0)]}, {"a": 1.0})
    assert len(fused) == 2
    assert fused[1].legs[0].rank == 2


def test_penalties_and_suppression_reorder() -> None:
    fused = weighted_rrf({"a": [(1, 3.0), (2, 2.0), (3, 1.0)]}, {"a": 1.0})
    out = apply_penalties(fused, {1: 0.9}, {2})
    assert [f.key for f in out] == [3, 1, 2]
    assert out[-1].suppressed and out[-1].score == 0.0
    assert out[1].score == pytest.approx(out[1].fused * 0.1)


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(InvalidQueryError):
        weighted_rrf({"a": [(1, 1.0)]}, {"a": -1.0})
