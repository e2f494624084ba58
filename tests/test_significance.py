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


PAIRS = [  # (new, the record that stood before it) among the real records
    ("2026-03-20_Int6_MLP3x_SmearGate_BigramHash_MuonWD_SWA", "2026-03-19_SlidingWindow_FP16Emb_10L_MuonWD_OvertoneInit"),
    ("2026-04-13_VarLenAttn_PhasingTTT2000", "2026-04-09_A2_Muon097_3Seed"),
    ("2026-04-09_A2_Muon097_3Seed", "2026-04-04_SP4096_DepthRecurrence_ParallelResid_MuonEqR"),  # sp8192 vs sp4096
]


@pytest.mark.parametrize("policy, threshold, alpha", [("readme", 0.005, 0.01), ("practice", 0.0, 0.25)])
@pytest.mark.parametrize("new, old", PAIRS, ids=lambda name: name[:16])
def test_both_policies_on_real_record_pairs(new, old, policy, threshold, alpha):
    import json
    import os
    import subprocess
    import sys

    from conftest import RECORDS, REPO

    track = RECORDS / "track_10min_16mb"
    proc = subprocess.run([sys.executable, "-m", "launcher.cli", "check", str(track / new), "--against", str(track / old),
                           "--policy", policy, "--json"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    sub = json.loads(proc.stdout)["submissions"][0]
    sig, check = sub["significance"], next(c for c in sub["checks"] if c["id"] == "significance")
    assert sub["policy"] == policy and f"{policy} policy" in check["message"]
    new_loss, new_bpb = [s["val_loss"] for s in sub["seeds"]], [s["val_bpb"] for s in sub["seeds"]]
    ref_loss, ref_bpb = sub["reference"]["val_losses"], sub["reference"]["val_bpbs"]
    per_byte = sig["unit"].startswith("nats/byte")
    if per_byte:  # different tokenizers: nats per byte, and the threshold scaled to bytes
        new_loss, ref_loss = [b * math.log(2) for b in new_bpb], [b * math.log(2) for b in ref_bpb]
        threshold *= sum(b * math.log(2) / l for b, l in zip(ref_bpb, sub["reference"]["val_losses"])) / len(ref_bpb)
    expected = stats.ttest_ind([x - threshold for x in ref_loss], new_loss, equal_var=False, alternative="greater")
    assert sig["threshold_nats"] == pytest.approx(threshold) and sig["alpha"] == alpha
    assert sig["delta_nats"] == pytest.approx(sum(ref_loss) / len(ref_loss) - sum(new_loss) / len(new_loss))
    assert sig["delta_bpb"] == pytest.approx(sum(ref_bpb) / len(ref_bpb) - sum(new_bpb) / len(new_bpb))
    assert sig["t"] == pytest.approx(expected.statistic) and sig["df"] == pytest.approx(expected.df)
    assert sig["p"] == pytest.approx(expected.pvalue)
    for figure in (f"{sig['delta_nats']:+.5f}", f"{sig['delta_bpb']:+.5f} bpb", f"t={sig['t']:.3f}", f"df={sig['df']:.1f}",
                   f"p={sig['p']:.3g}"):
        assert figure in check["message"]
    assert (check["status"] == "pass") == (sig["p"] < alpha) and sub["verdict"] == ("record" if sig["p"] < alpha else "valid")


def test_a_small_improvement_is_a_record_in_practice_but_not_by_the_readme():
    ref = [2.3200, 2.3205, 2.3210]
    new = [2.3180, 2.3190, 2.3185]  # 0.002 nats better: under the readme's 0.005
    readme = welch_improvement(new, ref, threshold_nats=0.005, alpha=0.01)
    practice = welch_improvement(new, ref, threshold_nats=0.0, alpha=0.25)
    assert not readme.significant and practice.significant
