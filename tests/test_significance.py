import math

import pytest
from scipy import stats

from leaderboard.significance import welch_improvement


def test_welch_matches_a_hand_computation():
    ref, new = [2.10, 2.11, 2.12], [2.08, 2.085, 2.09]
    sig = welch_improvement(new, ref, threshold_nats=0.005, alpha=0.01)
    va, vb = stats.tvar([x - 0.005 for x in ref]) / 3, stats.tvar(new) / 3
    t = (sum(ref) / 3 - 0.005 - sum(new) / 3) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    assert sig.t == pytest.approx(t) and sig.df == pytest.approx(df)
    assert sig.p == pytest.approx(stats.t.sf(t, df))
    assert sig.delta_nats == pytest.approx(0.025) and sig.unit == "nats/token"


def test_threshold_and_alpha_change_the_answer():
    ref, new = [2.100, 2.101, 2.102], [2.089, 2.090, 2.091]  # 0.011 nats better, very consistent
    assert welch_improvement(new, ref).significant
    assert not welch_improvement(new, ref, threshold_nats=0.01).significant
    noisy = [2.080, 2.095, 2.101]
    assert not welch_improvement(noisy, ref).significant
    assert welch_improvement(noisy, ref, threshold_nats=0.0, alpha=0.3).significant


def test_one_seed_gives_a_delta_but_no_test():
    sig = welch_improvement([2.0], [2.1, 2.2])
    assert sig.p is None and sig.delta_nats == pytest.approx(0.15)


def test_different_tokenizers_compare_per_byte():
    # sp8192-like losses per token are larger than sp1024-like ones at a better bpb
    new_loss, new_bpb = [2.79, 2.80, 2.79], [1.079, 1.080, 1.079]
    ref_loss, ref_bpb = [1.93, 1.94, 1.93], [1.145, 1.147, 1.146]
    sig = welch_improvement(new_loss, ref_loss, new_bpb, ref_bpb)
    assert sig.unit.startswith("nats/byte") and sig.delta_nats == pytest.approx((1.146 - 1.0793333) * math.log(2), rel=1e-3)
    assert sig.significant
