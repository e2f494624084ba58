"""Every log pattern the parser supports, each on a minimal real example copied from the corpus
(../shared/corpus; the source is named above each), and what a careful reader takes from it."""
from __future__ import annotations

import io
import textwrap

import pytest

from leaderboard.logparse import parse_lines, parse_stream


def parse(text: str):
    return parse_lines(textwrap.dedent(text).strip("\n").splitlines())


# prs/pr665/records/track_10min_16mb/2026-03-22_Int5Int6_BigramHash_SmearGate_SWA_LLMAdvisor/train_seed2024.log
THOUSANDS_SEPARATORS = """
    seed:2024
    step:7387/20000 val_loss:1.9502 val_bpb:1.1550 train_time:599943ms step_avg:81.22ms
    stopping_early: wallclock_cap train_time:599943ms step:7387/20000
    peak memory allocated: 18843 MiB reserved: 18932 MiB
    swa:applying averaged 16 checkpoints
    Serialized model: 98437014 bytes
    Code size: 62925 bytes
    Total submission size: 98499939 bytes
    Serialized model int6+zstd: 15571435 bytes
    Total submission size: 15,634,360 bytes (365,640 bytes under the 16 MB limit)
    final_eval_mode:sliding_window stride:64 batch_seqs:32
    final_int8_zlib_roundtrip val_loss:1.9368 val_bpb:1.1471 eval_time:258830ms
    final_int8_zlib_roundtrip_exact val_loss:1.93680082 val_bpb:1.14708558
"""


def test_a_total_with_thousands_separators_beats_the_raw_total_before_it():
    run = parse(THOUSANDS_SEPARATORS).run
    assert run.bytes_total == 15_634_360 and run.bytes_model == 15_571_435 and run.bytes_code == 62_925
    assert run.score.val_bpb == 1.14708558 and run.seed == 2024 and run.eval_time_s == pytest.approx(258.83)


# prs/pr586/records/track_10min_16mb/2026-03-24_11L_Hadamard_VE128_cuDNN_1.1365/train_seed2024.log
SUM_FORM = """
    step:7800/20000 train_loss:1.9733 train_time:589045ms step_avg:75.52ms
    step:7960/20000 val_loss:1.9450 val_bpb:1.1519 train_time:600027ms step_avg:75.38ms
    stopping_early: step:7960/20000 time:600027ms
    peak_mem: 14901MiB alloc 15126MiB reserved
    EMA: loading averaged weights (decay=0.997)
    pre_quant val_loss:1.9453 val_bpb:1.1521
    artifact: 15548351B model + 52010B code = 15600361B (compression:1.76x)
    headroom: 399639B
    final_int6_ptzst_roundtrip val_loss:1.9593 val_bpb:1.1604 eval_time:2138ms
    final_int6_ptzst_sliding val_loss:1.9199 val_bpb:1.1370 stride:64 eval_time:198714ms
"""


def test_an_artifact_line_that_sums_model_and_code():
    run = parse(SUM_FORM).run
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (15_600_361, 15_548_351, 52_010)
    assert run.steps == 7960 and run.train_time_s == pytest.approx(600.027)
    assert run.score.name == "final_int6_ptzst_sliding" and run.score.val_bpb == 1.137
    stages = {s.name: s for s in run.stages}
    assert stages["pre_quant"].diagnostic and not stages["pre_quant"].after_artifact


# prs/pr1119/records/track_10min_16mb/2026-03-29_Text_Diffusion_MDLM/train_seed42.txt
MODEL_CODE_TOTAL = """
    step:2200/20000 train_loss:9.8644 train_time:551896ms step_avg:250.86ms
    step:2212/20000 val_loss:2.5082 val_bpb:1.4855 train_time:555018ms step_avg:250.91ms
    stopping_early: wallclock_cap train_time:555018ms step:2212/20000 (reserving 45.0s for GPTQ)
    peak memory allocated: 33778 MiB reserved: 35290 MiB
    ema:applying EMA weights
    gptq:calibrating with 256 batches...
    gptq:collected hessians for 68 layers post_time:44771ms total_train_time:599789ms
    prune:zeroed 7349750/26345600 int6 weights (27.9%) threshold=0
    compression:zstd22 raw:27218696 compressed:11474336
    model:11474336 code:73514 total:11547850 (11.55 MB)
    Size OK: 11.55 MB
    final_int6_zstd_roundtrip val_loss:2.4625 val_bpb:1.4584 eval_time:213106ms
    final_int6_zstd_roundtrip_exact val_loss:2.46246542 val_bpb:1.45841072
"""


def test_model_code_total_tokens_and_a_stated_training_total():
    run = parse(MODEL_CODE_TOTAL).run
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (11_547_850, 11_474_336, 73_514)
    # 555.0 s of loop + 44.8 s of Hessians on training data: the script's own total is 599.8 s
    assert run.train_time_s == pytest.approx(555.018) and run.calibration_s == pytest.approx(44.771)


# prs/pr517/records/track_10min_16mb/2026-03-23_CosineTTT_100ep_GoldfishML/train.log
LOGGER_PREFIXES = """
    [2026-03-23 04:03:20] INFO: seed:1337
    [2026-03-23 04:14:11] INFO: step:7000/20000 val_loss:1.9370 val_bpb:1.1472 train_time:584531ms step_avg:83.50ms
    [2026-03-23 04:14:29] INFO: step:7186/20000 val_loss:1.9293 val_bpb:1.1426 train_time:600021ms step_avg:83.50ms
    [2026-03-23 04:14:29] INFO: stopping_early: wallclock_cap train_time:600021ms step:7186/20000
    [2026-03-23 04:14:29] INFO: peak memory allocated: 19812 MiB reserved: 19964 MiB
    [2026-03-23 04:14:29] INFO: Serialized model: 105783807 bytes
    [2026-03-23 04:14:29] INFO: Code size: 72097 bytes
    [2026-03-23 04:14:46] INFO: Serialized model int6+zstd: 15437904 bytes
    [2026-03-23 04:14:46] INFO: Total submission size int6+zstd: 15510001 bytes
    [2026-03-23 04:14:48] INFO: ttt:start lr=0.001 momentum=0.9 epochs=100 freeze_blocks=0
    [2026-03-23 04:15:03] INFO: ttt_epoch:1/100 loss:1.9575 lr:0.001000 time:14.8s
    [2026-03-23 04:15:18] INFO: ttt_epoch:2/100 loss:1.9256 lr:0.000999 time:29.4s
    [2026-03-23 04:39:11] INFO: ttt_epoch:100/100 loss:1.5259 lr:0.000010 time:1462.7s
    [2026-03-23 04:39:11] INFO: ttt:done elapsed=1462.7s
    [2026-03-23 04:39:13] INFO: final_int6_roundtrip val_loss:1.5209 val_bpb:0.9008 eval_time:1925ms
    [2026-03-23 04:39:13] INFO: final_int6_roundtrip_exact val_loss:1.52088067 val_bpb:0.90075120
"""


def test_logger_prefixes_hide_nothing_and_epochs_before_the_first_score_are_seen():
    run = parse(LOGGER_PREFIXES).run
    assert run.seed == 1337 and run.steps == 7186 and run.train_time_s == pytest.approx(600.021)
    assert run.bytes_total == 15_510_001 and run.score.val_bpb == 0.9007512
    # 100 epochs over the validation set after the artifact and before any score: not score-first
    assert [line for line, _ in run.unscored_adaptation_lines] == [11, 12, 13]
    assert run.eval_time_s == pytest.approx(1462.7 + 1.925)  # the epochs' running clock counts once, by its last value
    assert run.timestamps["training_end"] < run.timestamps["artifact"]  # the prefix's clock is kept


# prs/pr1852/records/track_10min_16mb/2026-04-27_PreQuantTTT_VoidCompass_QK525/train_seed999.log
PREQUANT_TTT = """
    4584/20000 val_loss: 2.3789 val_bpb: 1.0823
    stopping_early: wallclock_cap train_time: 588025ms step: 4584/20000
    peak memory allocated: 39858 MiB reserved: 40086 MiB
    ema:applying EMA weights
    pre-quantization post-ema val_loss:2.78390213 val_bpb:1.07760882 eval_time:7109ms
    prequant_ttt:start epochs=21 lr=0.0005 min_lr=5e-05
    prequant_ttt:epoch 1/21 loss=2.841399 lr=0.000497 void=0.5806 time=30.7s
    prequant_ttt:epoch 2/21 loss=2.754931 lr=0.000490 void=0.5809 time=38.6s
    prequant_ttt:epoch 3/21 loss=2.732600 lr=0.000478 void=0.5808 time=46.5s
    Serialized model quantized+brotli: 15972882 bytes
    Total submission size quantized+brotli: 15990829 bytes
    quantized val_loss:2.65920604 val_bpb:1.02946153 eval_time:6979ms
    quantized_sliding_window val_loss:2.64570999 val_bpb:1.02423678 eval_time:90700ms
"""


def test_epochs_on_validation_data_before_the_artifact_whatever_their_prefix():
    run = parse(PREQUANT_TTT).run
    assert run.steps == 4584 and run.train_time_s == pytest.approx(588.025)
    assert [line for line, _ in run.val_loop_lines] == [7, 8, 9]
    assert run.score.name == "quantized_sliding_window" and run.score.val_bpb == 1.02423678
    renamed = parse(PREQUANT_TTT.replace("prequant_ttt:epoch", "adapt: ep").replace("loss=", "nll:")).run
    assert len(renamed.val_loop_lines) == 3  # by pattern, not by name


# prs/pr221/records/track_10min_16mb/2026-03-20_Seq4096_10L_SlidingWindow/train_seed42.log (trimmed)
WRAPPER_SUMMARIES = """
    [STAGE 1/4] run=41c97225 | 8×H100 | hparams: {'num_layers': 10, 'train_seq_len': 4096, 'eval_stride': 64, 'warmdown_iters': 3600, 'seed': 42}
    [STAGE 2/4] run=41c97225 | Env built. DATA_PATH=/data/datasets/fineweb10B_sp1024
    [STAGE 4/4] run=41c97225 | Launching torchrun 8×H100 ...
    [RESULT] run=41c97225 | score=1.1908 | size=15,128,724B | ✓ fits 16MB | OK | 1070s
    [STAGE 1/4] run=9b13b924 | 8×H100 | hparams: {'num_layers': 10, 'train_seq_len': 4096, 'eval_stride': 64, 'warmdown_iters': 3600, 'seed': 7}
    [STAGE 2/4] run=9b13b924 | Env built. DATA_PATH=/data/datasets/fineweb10B_sp1024
    [RESULT] run=9b13b924 | score=1.1888 | size=15,154,068B | ✓ fits 16MB | OK | 1071s
"""


def test_wrapper_summaries_and_seeds_in_a_printed_dict():
    log = parse(WRAPPER_SUMMARIES)
    assert [(r.seed, r.score.val_bpb, r.bytes_total) for r in log.runs] == [(42, 1.1908, 15_128_724),
                                                                               (7, 1.1888, 15_154_068)]
    assert all(r.world_size == 8 and r.dataset == "fineweb10B_sp1024" for r in log.runs)


# prs/pr1943/records/track_non_record_16mb/2026-04-30_PR1471_HessianHalfGroup_NegativeResult/train_seed42.log
SUMMARY_KEYS = """
    Observed result:
    stop_step: 4017/20000
    train_time_s: 590.110
    eval_time_s: 277.205
    pre_quant_post_ema_val_bpb: 1.09444822
    final_int6_roundtrip_val_bpb: 1.11193162
    final_int6_sliding_window_val_loss: 2.82858227
    final_int6_sliding_window_val_bpb: 1.09503234
    code_bytes: 90415
    model_bytes: 15902710
    artifact_total_bytes: 15993125
    artifact_cap_bytes: 16000000
    artifact_headroom_bytes: 6875
"""


def test_a_summary_with_scores_named_by_their_keys():
    run = parse(SUMMARY_KEYS).run
    assert run.score.name == "final_int6_sliding_window" and run.score.val_bpb == 1.09503234
    assert run.score.val_loss == 2.82858227
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (15_993_125, 15_902_710, 90_415)
    assert run.steps == 4017 and run.train_time_s == pytest.approx(590.11) and run.eval_time_s == pytest.approx(277.205)
    assert next(s for s in run.stages if s.name == "pre_quant_post_ema").diagnostic


# prs/pr1857/records/track_10min_16mb/2026-04-24_PR1787Base_Smear_LQERAsym_PhasedTTT_1.06157/train_seed42.log
SETTINGS_DUMP_AND_SPACED_VALUES = """
    Hyperparameters:
      seed: 42
      world_size: 8
    4500/20000 train_loss: 2.2859 train_time: 8.9m tok/s: 6619111
    4948/20000 val_loss: 2.3545 val_bpb: 1.0758
    stopping_early: wallclock_cap train_time: 599587ms step: 4948/20000
    peak memory allocated: 41697 MiB reserved: 41720 MiB
    diagnostic pre-quantization post-ema val_loss:2.33152500 val_bpb:1.06534676 eval_time:6764ms
    Serialized model: 135417533 bytes
    Code size (uncompressed): 151646 bytes
    Code size (compressed): 31235 bytes
    GPTQ:collecting Hessians from calibration data...
    GPTQ:collected 67 Hessians in 3.4s
    Serialized model quantized+brotli: 15935411 bytes
    Total submission size quantized+brotli: 15966646 bytes
    ttp: b2/782 bl:2.8205 bb:1.2396 rl:2.3260 rb:1.0616 dl:83-89 gd:1
    quantized_ttt_phased val_loss:2.32363002 val_bpb:1.06180824 eval_time:451948ms
    total_eval_time:451.9s
    [W424 00:01:57.687874737 AllocatorConfig.cpp:28] Warning: PYTORCH_CUDA_ALLOC_CONF is deprecated
"""


def test_a_settings_dump_steps_without_prefix_and_spaced_values():
    run = parse(SETTINGS_DUMP_AND_SPACED_VALUES).run
    assert run.seed == 42 and run.world_size == 8
    assert run.steps == 4948 and run.iterations == 20000 and run.train_time_s == pytest.approx(599.587)
    assert run.bytes_code == 31_235 and run.bytes_total == 15_966_646  # the total counts the compressed code
    assert run.calibration_s == pytest.approx(3.4)  # Hessians on training data: capped with training
    assert run.score.name == "quantized_ttt_phased" and run.eval_time_s == pytest.approx(451.9)
    assert [p.step for p in run.curve] == [4500, 4948] and run.curve[0].train_time_s == pytest.approx(534.0)


# prs/pr1662/records/track_10min_16mb/2026-04-16_SP8192_3LayerRecur_HardOnset_NoTTT/eval_seeds42_314.log (trimmed)
EVAL_ONLY_BANNERS = """
    seed: 42
    pre-quantization post-ema val_loss:2.80690313 val_bpb:1.08683017 eval_time:31023ms
    GPTQ:collected 66 Hessians in 10.8s
    Serialized model int6+brotli: 15838322 bytes
    Total submission size int6+brotli: 15974578 bytes
    final_int6_roundtrip val_loss:2.85535081 val_bpb:1.10558906 eval_time:1967ms
    final_int6_sliding_window val_loss:2.81168312 val_bpb:1.08868098 eval_time:104577ms
    === EVAL-ONLY COMPLETE rc=0 2026-04-16T07:12:52Z ===
      gate lines:
    pre-quantization post-ema val_loss:2.80690313 val_bpb:1.08683017 eval_time:31023ms
    Total submission size int6+brotli: 15974578 bytes
    final_int6_roundtrip val_loss:2.85535081 val_bpb:1.10558906 eval_time:1967ms
    final_int6_sliding_window val_loss:2.81168312 val_bpb:1.08868098 eval_time:104577ms
    === EVAL SEED 314 ===
    Serialized model int6+brotli: 15862245 bytes
    Total submission size int6+brotli: 15998501 bytes
    final_int6_roundtrip val_loss:2.84412915 val_bpb:1.10124405 eval_time:1980ms
    final_int6_sliding_window val_loss:2.80020987 val_bpb:1.08423854 eval_time:78487ms
"""


def test_eval_only_runs_split_at_a_banner_naming_a_seed_and_a_repeated_summary_counts_once():
    log = parse(EVAL_ONLY_BANNERS)
    assert [(r.seed, r.score.val_bpb, r.bytes_total) for r in log.runs] == [(42, 1.08868098, 15_974_578),
                                                                               (314, 1.08423854, 15_998_501)]
    # the re-quantization is not evaluation, and the "gate lines" summary repeats the stages: counted once
    assert log.runs[0].eval_time_s == pytest.approx(1.967 + 104.577)


# prs/pr1885/records/track_10min_16mb/2026-04-28_050_PPM_Mixture_AntiHijack/train_seed42.log (trimmed)
SCORE_KEY_THEN_DIAGNOSTIC = """
    seed: 42
    4952/20000 val_loss: 2.3630 val_bpb: 1.0748
    stopping_early: wallclock_cap train_time: 595980ms step: 4952/20000
    Total submission size quantized+brotli: 15955912 bytes
    ppm_full_native time=158.8s tokens=47851520 bytes_piece=164594398 bytes_sidecar=151074499 mix_bpb_piece=0.911350
    ppm_native_submission_val_bpb: 0.992908
    ppm_native:total_pass_time:255.7s
    diagnostic quantized val_loss:2.34892698 val_bpb:1.07329827 eval_time:55511ms
"""


def test_a_score_named_by_its_key_and_a_diagnostic_after_it():
    run = parse(SCORE_KEY_THEN_DIAGNOSTIC).run
    assert run.score.name == "ppm_native_submission" and run.score.val_bpb == 0.992908
    assert run.bytes_total == 15_955_912  # bytes_piece / bytes_sidecar are counts of text, not the artifact


# prs/pr754/records/track_10min_16mb/2026-03-25_11L_ParallelMuon_MLP3x_TTT/train_seed42.log
FLOAT_EVALS_BEFORE_THE_SIZES = """
    step:6757/20000 val_loss:1.8854 val_bpb:1.1167 train_time:600033ms step_avg:88.80ms
    stopping_early: wallclock_cap train_time:600033ms step:6757/20000
    peak memory allocated: 22672 MiB reserved: 22816 MiB
    raw model val_bpb:1.1167
    Evaluating EMA weights...
    ema_eval val_bpb:1.1158 eval_time:71265ms
    Evaluating SWA (14 snapshots)...
    swa_eval val_bpb:1.1180 eval_time:71264ms
    Using ema weights (val_bpb=1.1158)
    Serialized model: 105826834 bytes
    Code size: 81870 bytes
    Serialized model int6+zstd: 15821513 bytes (payload:27693850 raw_torch:27759695 payload_ratio:3.82x)
    Total submission int6+zstd: 15903383 bytes
    final_int6_zstd_roundtrip val_loss:1.8968 val_bpb:1.1234 eval_time:75480ms
    final_int6_zstd_roundtrip_exact val_loss:1.89684242 val_bpb:1.12342044
    ttt_sliding:done val_loss=1.893332 val_bpb=1.121341 elapsed=455.7s
    legal_ttt val_loss:1.8933 val_bpb:1.1213 eval_time:456200ms
    legal_ttt_exact val_loss:1.89333202 val_bpb:1.12134084
"""


def test_evaluations_of_the_float_weights_before_the_sizes_are_not_a_summary():
    run = parse(FLOAT_EVALS_BEFORE_THE_SIZES).run
    assert run.artifact_line == 13  # the total, not the line before the first evaluation
    assert run.score.name == "legal_ttt" and run.score.val_bpb == 1.12134084
    assert run.eval_time_s == pytest.approx(75.48 + 456.2)  # the EMA / SWA evaluations ran before the artifact


# prs/pr164/records/track_10min_16mb/2026-03-20_OrthoInit_Muon_Int6_MLP3x_SmearBigram_1.1524/train_seed2025.log
# and prs/pr2083/records/track_10min_16mb/2026-05-01_SP8192_CaseOps_V13_PPM_0.94175/train_seed999.log
TWO_CLOSE_EVALUATIONS = """
    step:8712/9000 val_loss:1.9601 val_bpb:1.1609 train_time:600041ms step_avg:68.87ms
    stopping_early: wallclock_cap train_time:600041ms step:8712/9000
    Total submission size int6+zstd: 15465508 bytes
    final_int6_roundtrip val_loss:1.9864 val_bpb:1.1764 eval_time:4718ms
    final_int6_roundtrip_exact val_loss:1.98637160 val_bpb:1.17644115
    final_int6_sliding_window val_loss:1.9494 val_bpb:1.1546 stride:256 eval_time:16411ms
    final_int6_sliding_window_exact val_loss:1.94943358 val_bpb:1.15456323
    final_int6_sliding_window_s64 val_loss:1.9494 val_bpb:1.1546 stride:64 eval_time:57528ms
    final_int6_sliding_window_s64_exact val_loss:1.94942912 val_bpb:1.15456479
    ppm_mixer val_bpb:0.95657904 eval_time:470207ms order=5 H=0.99 L=0.2 T=0.8 N_tokens=47851520
    ppm_sliding val_loss:2.40358135 val_bpb:0.95657904 eval_time:482996ms
"""


def test_close_results_each_timed_are_two_evaluations_and_one_result_under_two_timers_is_one():
    run = parse(TWO_CLOSE_EVALUATIONS).run
    assert run.score.name == "ppm_sliding"
    # stride 256 and stride 64 both ran; the PPM pass is timed inside (470 s) and outside (483 s) once
    assert run.eval_time_s == pytest.approx(4.718 + 16.411 + 57.528 + 482.996)


# prs/pr1782/records/track_non_record_16mb/2026-04-22_SP1024_ByteLevelPPM_AdaptiveMix/train_seed1337.log
RELAUNCHED = """
    from __future__ import annotations
    import os
    ====================================================================================================
    train_loader:dataset:fineweb10B_sp1024 train_shards:4
    model_params:17059912
    world_size:8 grad_accum_steps:1
    train_batch_tokens:524288 train_seq_len:1024 iterations:20000 warmup_steps:20 max_wallclock_seconds:540.000
    seed:1337
    warmup_step:19/20
    warmup_step:20/20
    from __future__ import annotations
    import os
    ====================================================================================================
    train_loader:dataset:fineweb10B_sp1024 train_shards:4
    model_params:17059912
    world_size:8 grad_accum_steps:1
    train_batch_tokens:524288 train_seq_len:1024 iterations:20000 warmup_steps:20 max_wallclock_seconds:540.000
    seed:1337
    warmup_step:20/20
    step:5002/20000 val_loss:2.3000 val_bpb:1.3622 train_time:219393ms step_avg:43.86ms
    stopping_early: wallclock_cap train_time:219393ms step:5002/20000
    Total submission size int8+zlib: 15870887 bytes
    final_int8_zlib_roundtrip val_loss:2.7390 val_bpb:1.4131 eval_time:66298ms
    final_int8_zlib_roundtrip_exact val_loss:2.73898667 val_bpb:1.41305759
"""


def test_an_attempt_that_stopped_before_its_first_step_and_was_launched_again_stays_apart():
    log = parse(RELAUNCHED)
    first, second = log.runs
    assert (first.first_line, first.last_line, second.first_line) == (1, 10, 11)
    assert first.relaunched and first.steps is None and first.score is None
    assert any("launched again at line 11" in w for w in first.warnings)
    assert second.steps == 5002 and second.score.val_bpb == 1.41305759 and log.run is second


# prs/pr982/records/track_10min_16mb/2026-03-27_FortKnox_ZeroValAdaptation_6L256d/train_seed2024.log
CLOCK_ONLY_AT_THE_START = """
    step:0/20000 val_loss:6.9296 val_bpb:4.1041
    step:500/20000 train_loss:2.6529 train_time:17960ms step_avg:35.92ms
    step:4000/20000 val_loss:2.3737 val_bpb:1.4058
    step:8000/20000 val_loss:2.3489 val_bpb:1.3912
    step:12000/20000 val_loss:2.2938 val_bpb:1.3585
"""


def test_a_clock_last_printed_early_in_the_loop_is_not_its_training_time():
    run = parse(CLOCK_ONLY_AT_THE_START).run
    assert run.steps == 12000 and run.train_time_s is None
    assert any("last printed at step 500" in w for w in run.warnings)


# golf's own trainer, ITERATIONS=3 TRAIN_LOG_EVERY=10: the last step line printed is step 1
GOLF_LOOP_END_PAST_ITS_LAST_STEP_LINE = """
    golf_trainer version:0.2.0 run_id:golf_baseline preset:baseline seed:1337 device:cpu device_name:x86_64 world_size:1
    warmup_step:1/1
    step:1/3 train_loss:6.9314 train_time:661ms step_avg:661.25ms lr_mul:1.0000 tok_s:12389
    train_done steps:3 train_time:3710ms step_avg:1236.74ms stop:iterations tok_s:6624
    peak_memory mib:392 kind:cpu_rss
    size bytes_total:251938 bytes_model:139522 bytes_code:112416 limit:16000000
    eval stage:roundtrip val_loss:6.68211952 val_bpb:3.79484214 eval_time:4376ms val_tokens:57856 val_bytes:146975 diagnostic:0
    score stage:roundtrip val_loss:6.68211952 val_bpb:3.79484214 eval_time:4383ms
"""


def test_a_line_stating_the_loops_steps_and_clock_together_times_its_end():
    run = parse(GOLF_LOOP_END_PAST_ITS_LAST_STEP_LINE).run
    assert (run.steps, run.train_time_s) == (3, 3.71)
    assert not any("last printed" in w for w in run.warnings)

# prs/pr596/records/track_10min_16mb/2026-03-24_DeepQuant_V10b/train_seed42.log
TIMERS_INSIDE_A_STAGE = """
    step:7000/20000 val_loss:1.9800 val_bpb:1.1700 train_time:600010ms step_avg:85.72ms
    stopping_early: wallclock_cap train_time:600010ms step:7000/20000
    Total submission size zstd-22: 15463955 bytes
    final_int8_zlib_roundtrip val_loss:1.9843 val_bpb:1.1752 eval_time:2192ms eval_seq_len:2048
    final_int8_zlib_roundtrip_exact val_loss:1.98431408 val_bpb:1.17522257
    ttt:short_docs time=21759ms tokens=698809
    ttt:batch 5/62 time=7553ms avg_loss=1.8383
    ttt:batch 30/62 time=67997ms avg_loss=1.3174
    ttt:batch 60/62 time=342053ms avg_loss=0.9553
    ttt:long_docs time=558962ms docs=3956
    final_ttt_lora val_loss:0.9878 val_bpb:0.5850 eval_time:581205ms lora_rank:8 chunk_size:256
    final_ttt_lora_exact val_loss:0.98782486 val_bpb:0.58504549
"""


# prs/pr1904/records/track_non_record_16mb/2026-04-28_ActivationSpaceCSA_SP1024_8xH100/training.log (lines 1292-1309)
PROGRESS_INSIDE_A_STAGE = """
    step:16858/50000 val_loss:2.1666 val_bpb:1.2832 train_time:590039ms step_avg:35.00ms
    stopping_early: wallclock_cap train_time:590039ms step:16858/50000
    Serialized model int8+zlib: 15790377 bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)
    Total submission size int8+zlib: 15829207 bytes
    final_int8_zlib_roundtrip val_loss:2.1740 val_bpb:1.2875 eval_time:2829ms
    final_int8_zlib_roundtrip_exact val_loss:2.17395389 val_bpb:1.28753794
    acsa_eval:targets=postblock,prehead dim:160 topk:40 shrink:topk params:103680
    acsa_eval_progress rank0_local_docs:4416/6250 batch:69/98 elapsed:16s eta:6s docs_per_s:284.80
    acsa_eval_progress rank0_local_docs:5376/6250 batch:84/98 elapsed:31s eta:5s docs_per_s:175.32
    acsa_eval_progress rank0_local_docs:5952/6250 batch:93/98 elapsed:48s eta:2s docs_per_s:124.62
    acsa_eval_progress rank0_local_docs:6208/6250 batch:97/98 elapsed:1m10s eta:0s docs_per_s:88.99
    acsa_eval_progress rank0_local_docs:6250/6250 batch:98/98 elapsed:1m36s eta:0s docs_per_s:65.07
    final_int8_ttt_acsa val_loss:2.1240 val_bpb:1.2580 eval_time:141662ms
    compliance artifact_under_limit:1 eval_under_limit:1 train_under_limit:0 artifact_bytes:15829207 eval_time_ms:144491
"""


def test_timers_printed_inside_a_stage_are_not_counted_again():
    run = parse(TIMERS_INSIDE_A_STAGE).run
    assert run.score.name == "final_ttt_lora"
    assert run.eval_time_s == pytest.approx(2.192 + 581.205)
    run = parse(PROGRESS_INSIDE_A_STAGE).run  # `acsa_eval_progress ... elapsed:1m36s` is a part of `final_int8_ttt_acsa`
    assert run.score.name == "final_int8_ttt_acsa"
    assert run.eval_time_s == pytest.approx(2.829 + 141.662)  # the script's own compliance line: 144491 ms


# prs/pr1274/records/track_10min_16mb/2026-04-02_Scylla_ParallelResiduals_DepthRecurrence_TTT/train_seed1337.log
PASSES_OF_ONE_STAGE = """
    step:5000/20000 val_loss:1.9700 val_bpb:1.1000 train_time:600020ms step_avg:120.00ms
    stopping_early: wallclock_cap train_time:600020ms step:5000/20000
    Total submission size: 15823670 bytes
    final_int6_roundtrip val_loss:2.0042 val_bpb:1.1196 eval_time:21725ms
    final_int6_roundtrip_exact val_loss:2.00420976 val_bpb:1.11963382
    legal_ttt val_loss:1.9474 val_bpb:1.0879 eval_time:495171ms
    legal_ttt_exact val_loss:1.94735636 val_bpb:1.08787789
    ngram_two_pass: starting Pass 1 (sliding-window neural eval)
    ngram_two_pass: Pass 1 done val_bpb=1.086267 tokens_scored=7722944 time=99.1s
    ngram_two_pass: cache built in 36.8s
    ngram_two_pass: Pass 2 done val_bpb=0.173461 improvement=0.912806 time=26.0s
    ngram_two_pass: total time=162.0s
    ngram_two_pass val_loss:0.3105 val_bpb:0.1735 eval_time:162023ms
    ngram_two_pass_exact val_loss:0.31050376 val_bpb:0.17346089
"""


def test_the_passes_of_one_evaluation_are_inside_its_total():
    run = parse(PASSES_OF_ONE_STAGE).run
    assert run.score.name == "ngram_two_pass" and run.score.val_bpb == 0.17346089
    assert run.eval_time_s == pytest.approx(21.725 + 495.171 + 162.023)


# prs/pr376/records/track_10min_16mb/2026-03-26_NgramBackoff_VRL_LeakyReLU2/train_seed1337.log and
# prs/pr302/records/track_10min_16mb/2026-03-20_NovelSOTA/train.log
A_STAGE_TIMED_UNDER_ITS_OWN_NAME = """
    step:7800/20000 train_loss:1.9900 train_time:594000ms step_avg:76.15ms
    stopping_early: wallclock_cap train_time:600000ms step:7883
    Total submission size int6+zstd: 15900000 bytes
    final_int6_roundtrip val_loss:1.9400 val_bpb:1.1490 eval_time:6554ms
    final_int6_roundtrip_exact val_loss:1.94000000 val_bpb:1.14900000
    final_ngram val_loss:1.6277 val_bpb:0.9640 ngram_eval_time:895349ms
    final_ngram_exact val_loss:1.62773633 val_bpb:0.96403969
"""


def test_a_stage_timed_under_its_own_name_and_a_stop_with_the_step_alone():
    run = parse(A_STAGE_TIMED_UNDER_ITS_OWN_NAME).run
    assert run.steps == 7883 and run.train_time_s == pytest.approx(600.0)
    assert run.score.name == "final_ngram" and run.eval_time_s == pytest.approx(6.554 + 895.349)


# prs/pr1976/records/track_non_record_16mb/2026-04-30_Devchandrasen_AWQ2GPU_ProxyNoCompile/eval_seed42_existing_artifact_nocompile.log
ONLY_A_DIAGNOSTIC_EVALUATION = """
    world_size: 2
    loading existing artifact final_model.int6.ptz
    diagnostic quantized val_loss:2.53478079 val_bpb:1.15828615 eval_time:44528ms
"""


def test_a_diagnostic_evaluation_of_the_artifact_is_the_score_when_it_is_the_only_one():
    run = parse(ONLY_A_DIAGNOSTIC_EVALUATION).run
    assert run.score.val_bpb == 1.15828615 and run.eval_time_s == pytest.approx(44.528)
    assert run.diagnostics_s is None


# prs/pr1553/records/track_non_record_16mb/2026-04-11_GDN_Hybrid_DeltaRule/train_seed1337.log
RESULTS_IN_WORDS = """
    step  1800/9999 | loss 2.1125 | lr_mul 1.0000 | mom 0.950 | 3.13 steps/s | 575s
    Wallclock limit reached (590s), will stop after this step
    Stopping early at step 1858 (wallclock limit)

    Training complete in 590s (1858 steps)
    Peak memory: 35750 MiB
    EMA BPB (no XSA): 1.018624
    Artifact: 15,417,768 bytes (14.70 MB)
    Quantized BPB (no XSA): 1.027614
    Quantization degradation: +0.008990
    Quantized BPB (XSA-all): 1.031403
"""


def test_a_log_that_says_its_results_in_words():
    run = parse(RESULTS_IN_WORDS).run
    assert run.steps == 1858 and run.train_time_s == pytest.approx(590.0)
    assert run.bytes_total == 15_417_768
    assert run.score.name == "Quantized (XSA-all)" and run.score.val_bpb == 1.031403


# prs/pr1731/records/track_10min_16mb/2026-04-19_SP8192_QuantumFusionPlus_Hadamard_AWQ/train_seed999.log
SUMMARY_TIMES_IN_WORDS = """
    [2026-04-19 12:25:39] Step 4400/4550: train_loss=1.1934, lr=0.0009
    [2026-04-19 12:26:06] Quantization: Applying Hadamard rotation + AWQ + Hessian-aware calibration
    [2026-04-19 12:26:15] Quantization complete: model size 15977892 bytes
    [2026-04-19 12:26:15] Starting evaluation
    [2026-04-19 12:26:15] Evaluation mode: sliding window + legal score-first TTT
    [2026-04-19 12:26:45] Sliding window evaluation: val_bpb=1.0787, val_nats=2.7876
    [2026-04-19 12:27:15] TTT epoch 1/3: loss=0.2334, lr=0.0050
    [2026-04-19 12:27:45] TTT epoch 2/3: loss=0.1223, lr=0.0035
    [2026-04-19 12:28:15] TTT epoch 3/3: loss=0.0556, lr=0.0020
    [2026-04-19 12:28:15] Final evaluation with TTT: val_bpb=1.0787, val_nats=2.7829
    [2026-04-19 12:28:15] Artifact size: 15977892 bytes (15.22 MB)
    [2026-04-19 12:28:15] Training time: 589 seconds
    [2026-04-19 12:28:15] Evaluation time: 497 seconds
    [2026-04-19 12:28:15] Total time: 1086 seconds
    [2026-04-19 12:28:15] ========== FINAL RESULTS ==========
    [2026-04-19 12:28:15] Seed: 999
    [2026-04-19 12:28:15] Sliding BPB: 1.0787
    [2026-04-19 12:28:15] TTT BPB: 1.0787
    [2026-04-19 12:28:15] Artifact: 15977892 bytes
"""


def test_a_summary_that_states_its_times_in_words():
    run = parse(SUMMARY_TIMES_IN_WORDS).run
    assert run.score.val_bpb == 1.0787
    assert run.eval_time_s == pytest.approx(497.0)  # never 589 + 497 + 1086
    assert run.train_time_s == pytest.approx(589.0)


# prs/pr803/records/track_10min_16mb/2026-03-26_ComplementaryBackoff_0.4416/train_seed42.log
# (the same dialect in prs/pr811, pr1033, pr1359, pr1379)
COMPACT_DIALECT = """
    tbt:786432 tsl:2048 it:20000 wu:20 mws:600.000
    s:42
    s:0/20000 vl:6.9301 bpb:4.1044 tt:0ms sa:0.02ms
    s:1/20000 tl:6.9318 tt:153ms sa:152.81ms
    s:4648/20000 vl:1.9486 bpb:1.1541 tt:600028ms sa:129.09ms
    stop tt:600028ms s:4648/20000
    mem:22023M R:22672M
    ema:apply
    diag vl:1.9495 bpb:1.1546 t:2025ms
    model:106181533B
    code:94053B
    q:15781804B
    total:15875857B
    q_rt vl:1.9625 bpb:1.1623 t:16007ms
    q_rt_x vl:1.96246039 bpb:1.16227958
    q_sw vl:1.9226 bpb:1.1387 s:64 t:94699ms
    q_sw_x vl:1.92261754 bpb:1.13868542
    q8_x vl:1.92261754 bpb:1.13868542
    ttt:start
      tc[1893/1893]bpb=0.701803 t=461.3s
    ttt:vl=1.183079 bpb=0.700688 t=461.3s
    ttt vl:1.1831 bpb:0.7007 t:461764ms
    ttt_x vl:1.18307895 bpb:0.70068785
"""

# prs/pr803/records/track_10min_16mb/2026-03-26_ComplementaryBackoff_0.4416/eval_seed42.log
COMPACT_DIALECT_EVAL_ONLY = """
    s:42
    eval:load saved_v11_seed42.pt
    eval:loaded 26993766p
    eval:qsize:15781804B
    eval:sw bpb:1.1387 s:64 t:78773ms
    eval:ttt lr=0.0005 ep=4 c=32768 fb=2
      tc[1893/1893]bpb=0.442012 t=457.1s
    ttt:vl=0.745589 bpb=0.441581 t=457.2s
    eval:ttt bpb:0.4416 t:457870ms
"""


def test_the_compact_dialect_is_read_as_the_baseline_it_abbreviates():
    run = parse(COMPACT_DIALECT).run
    assert run.seed == 42 and run.steps == 4648 and run.train_time_s == pytest.approx(600.028)
    assert run.bytes_total == 15_875_857 and run.bytes_model == 15_781_804 and run.bytes_code == 94_053
    assert (run.score.val_bpb, run.score.val_loss) == (0.70068785, 1.18307895)
    # roundtrip, sliding, TTT (461.3 s by its own clock, 461.764 s by the caller's); not the diagnostic
    assert run.eval_time_s == pytest.approx(16.007 + 94.699 + 461.764, abs=1)
    assert [p.val_bpb for p in run.curve if p.val_bpb] == [4.1044, 1.1541]


def test_an_eval_only_log_in_the_compact_dialect():
    run = parse(COMPACT_DIALECT_EVAL_ONLY).run
    assert run.seed == 42 and run.bytes_total is None and run.bytes_model == 15_781_804  # the model alone
    assert (run.score.val_bpb, run.score.val_loss) == (0.441581, 0.745589)
    assert run.eval_time_s == pytest.approx(78.773 + 457.87, abs=1)


# prs/pr1996/records/track_10min_16mb/2026-04-30_DreamCal_MixedTemp_V6/eval_dreamcal_A_t08_231729.log
ALIGNED_SUMMARY = """
    Sliding Window Eval V6: best_model_v6_ema_gptq_4bit_emb6_dreamcal_A_t08_hessian_roundtrip.pt
    Device: cuda:0, Stride: 64, Temp: 1.0, SeqLen: 512
      [690000/695589] bpb=1.2573 (6575s)
      [695000/695589] bpb=1.2573 (6623s)
    ============================================================
    SLIDING WINDOW EVAL (stride=64, T=1.0, seq_len=512)
      val_bpb:  1.257264
      val_loss: 2.957501
      Target:   1.0897 (pure train SOTA)
"""


def test_a_summary_that_aligns_its_values_in_a_column():
    run = parse(ALIGNED_SUMMARY).run
    assert (run.score.val_bpb, run.score.val_loss) == (1.257264, 2.957501)


# prs/pr1901/records/track_10min_16mb/2026-04-28_KarenPoghosyan_DualHash_AdaMuon_MoE/train.log
RUNS_APPENDED_WITHOUT_HEADERS = """
       step  6700 | BPB~4.3548 | LR 4.397e-08 | 562s
    Max steps reached: 6700 (562s)
    Training complete: 562.25s
    EMA weights applied.

    final_int8_zlib_roundtrip val_loss:0.577989 val_bpb:0.833862 eval_time:68102ms
      Metadata → 'submission_global_seed1337.json'

    =================================================================
      FINAL RESULT  (Karen042009  SEED 1337)
      val_bpb:    0.83386159
      val_loss:   0.57798881
    =================================================================

    #################################################################
       SEED 42  — starting training run
    #################################################################

       step  7100 | BPB~4.3294 | LR 3.916e-08 | 596s
    Max steps reached: 7100 (596s)
    Training complete: 595.96s
    EMA weights applied.

    final_int8_zlib_roundtrip val_loss:0.578192 val_bpb:0.834155 eval_time:46921ms
      Metadata → 'submission_global_seed42.json'

    =================================================================
      FINAL RESULT  (Karen042009  SEED 42)
      val_bpb:    0.83415485
      val_loss:   0.57819208
    =================================================================
"""


def test_runs_appended_with_no_header_part_at_the_second_loop_end():
    log = parse(RUNS_APPENDED_WITHOUT_HEADERS)
    assert len(log.runs) == 2
    first, second = log.runs
    assert first.train_time_s == pytest.approx(562.25) and second.train_time_s == pytest.approx(595.96)
    # the summary's 8 decimals, for the evaluation timed on the line above it
    assert (first.score.val_bpb, first.score.val_loss) == (0.83386159, 0.57798881)
    assert first.eval_time_s == pytest.approx(68.102) and second.eval_time_s == pytest.approx(46.921)
    assert (second.score.val_bpb, second.score.val_loss) == (0.83415485, 0.57819208)


# prs/pr1139/records/track_non_record_16mb/2026-03-30_AutoResearch_ValueEmbeds_MLP3x_1x4090/train.log: a progress
# line rewritten in place with carriage returns, so the file holds every step on one physical line
PROGRESS_OVER_CARRIAGE_RETURNS = (
    "".join(f"step {i:05d} ({100 * i / 466:.1f}%) | loss: {9 - i / 100:.6f} | lrm: 1.00 | dt: 659ms | "
            f"tok/sec: 99,486 | mfu: 4.5% | epoch: 1 | remaining: {300 - i}s    \r" for i in range(467)) + "\n")


def test_progress_steps_rewritten_with_carriage_returns_are_one_series():
    run = parse_stream(io.BytesIO(PROGRESS_OVER_CARRIAGE_RETURNS.encode())).run
    assert run.steps == 466 and run.curve[-1].train_loss == pytest.approx(9 - 4.66)
    assert 90 <= len(run.curve) <= 110  # sampled, not all 467


# prs/pr1430/records/track_10min_16mb/2026-04-07_PerSample_SLOT_NgramOrder22_AlphaCenter25_TTT_AdamW24step_2ndPass10_LR432_BSZ128/train_seed1337.log
A_WORSE_PASS_BEFORE_THE_SCORE = """
    stopping_early: wallclock_cap train_time:600076ms step:6573/20000
    Serialized model int6+lzma: 15674312 bytes
    Total submission size int6+lzma: 15858672 bytes
    final_int6_roundtrip val_loss:1.9282 val_bpb:1.1420 eval_time:23756ms
    final_int6_roundtrip_exact val_loss:1.92815132 val_bpb:1.14195982
    final_int6_sliding_window val_loss:1.8885 val_bpb:1.1185 stride:96 eval_time:73425ms
    final_int6_sliding_window_exact val_loss:1.88852752 val_bpb:1.11849490
    legal_ttt val_loss:1.9326 val_bpb:1.1446 eval_time:284509ms
    legal_ttt_exact val_loss:1.93255312 val_bpb:1.14456984
    slot val_loss:0.6721 val_bpb:0.3981 eval_time:309729ms
    slot_exact val_loss:0.67210435 val_bpb:0.39805911
"""


def test_a_pass_worse_than_the_one_before_it_still_ran_before_the_score():
    run = parse(A_WORSE_PASS_BEFORE_THE_SCORE).run
    assert run.score.val_bpb == 0.39805911
    assert run.eval_time_s == pytest.approx(23.756 + 73.425 + 284.509 + 309.729)  # the TTT pass counts too


# prs/pr1273/records/track_non_record_16mb/2026-03-29_Annealed_Muon_1.58bit_8KV/train_log.txt
STOP_WITH_THE_CLOCK_IN_WORDS = """
    step:4392 train_loss:2.3374 step_avg:129ms frac:0.95 lr_scale:0.076 [Zero: 46.2% | Edges: 53.8%]
    stopping_early: cap reached at step 4622 (Train time: 594.7s)
    step:4622 val_loss:2.0592 val_bpb:1.2196
    Serialized model zstd-22: 15581721 bytes
    final_roundtrip val_loss:2.0681 val_bpb:1.2249 eval_time:12974ms
"""

# prs/pr820/records/track_non_record_16mb/2026-03-25-MaskedDiffusion/train.log
A_DIFFUSION_MODELS_BOUND = """
    step:13818/20000 val_loss:2.6564 val_var_bpb:1.6259 train_time:600032ms step_avg:43.42ms
    stopping_early: wallclock_cap train_time:600032ms step:13818/20000
    Serialized model int6+zstd22: 15313980 bytes (payload:21537286 raw_torch:21589365 payload_ratio:3.91x)
    Total submission size int6+zstd22: 15379114 bytes
    final_quant_roundtrip val_loss:2.6553 val_var_bpb:1.6252 eval_time:132549ms
    final_quant_roundtrip_exact val_loss:2.65530960 val_var_bpb:1.62519980
"""

# prs/pr1812/records/track_10min_16mb/2026-04-25_SP8192_3LayerRecur_LegalTTT_4ep/seed42.log
SIZES_UNDER_A_BYTES_LABEL = """
    30/30 train_loss: 7.9581 train_time: 0.1m tok/s: 2204151
    [default0]:smoke_pack_bytes: code=19646 model=15994502 total=16014148
"""


def test_a_stop_that_says_its_clock_in_words_a_bound_named_var_bpb_and_sizes_under_a_bytes_label():
    run = parse(STOP_WITH_THE_CLOCK_IN_WORDS).run
    assert run.steps == 4622 and run.train_time_s == pytest.approx(594.7) and run.score.val_bpb == 1.2249
    run = parse(A_DIFFUSION_MODELS_BOUND).run
    assert (run.score.val_bpb, run.score.val_loss) == (1.6251998, 2.6553096)
    run = parse(SIZES_UNDER_A_BYTES_LABEL).run
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (16_014_148, 15_994_502, 19_646)


# prs/pr254/records/track_10min_16mb/2026-03-20_FarnsworthEngine_TTT_11L_Int6_MLP3x/train_seed42.log
A_RUNNING_CLOCK_THEN_ITS_TOTAL = """
    stopping_early: wallclock_cap train_time:600012ms step:7354/9000
    Serialized model int6+zstd: 15632049 bytes
    Total submission size int6+zstd: 15700261 bytes
    ttt:start lr=0.002 momentum=0.9 epochs=3
    ttt_epoch:1/3 loss:1.9512 time:14.5s
    ttt_epoch:2/3 loss:1.9496 time:28.7s
    ttt_epoch:3/3 loss:1.9487 time:43.0s
    ttt:done elapsed=43.1s
    ttt:elapsed=43.1s
    final_int6_roundtrip val_loss:1.9477 val_bpb:1.1535 eval_time:1812ms
    final_int6_roundtrip_exact val_loss:1.94766030 val_bpb:1.15351414
    final_int6_sliding_window val_loss:1.9100 val_bpb:1.1312 stride:64 eval_time:69216ms
    final_int6_sliding_window_exact val_loss:1.91003382 val_bpb:1.13123261
"""


def test_a_running_clock_then_its_total_is_one_duration():
    run = parse(A_RUNNING_CLOCK_THEN_ITS_TOTAL).run
    assert run.eval_time_s == pytest.approx(43.1 + 1.812 + 69.216, abs=0.2)  # never 43.0 + 43.1 + ...


# prs/pr2073/records/track_10min_16mb/2026-04-30_hybrid_ngpt_gpt_mamba/train_seed42.log
A_RESULT_BLOCK_IN_WORDS = """
    Time is over, worked 600.0832433700562 seconds
    done in 600.1s
    ============================================================
    Final result
    code_bytes:58608
    total_submission_bytes:15531548
    Total number of steps is 3426
    final_eval_time_seconds:105.41
    final_int8_zlib_roundtrip val_loss:1.9838 val_bpb:1.1729
    final_int8_zlib_roundtrip_exact val_loss:1.983839 val_bpb:1.174941
"""

# prs/pr334/records/track_non_record_16mb/2026-03-21_Quasi10B_SP1024_11x512_KV4_8h_nathon-lee-v1/train.log
A_TOTAL_AFTER_NAMED_SIZES = """
    wallclock_stop at step:3374 train_time:6400210ms
    raw_model_bytes:106699647
    artifact_bytes:16132620 code_bytes:49461 total:16182081
"""

# prs/pr911/records/track_10min_16mb/2026-03-25_Ternary_Feedback_TTT/hp_1hr_best.log
A_TOTAL_AGAINST_THE_CAP = """
    artifact:0.87MB code:124566 total:991210/16000000 (FITS
"""

# prs/pr1478/records/track_10min_16mb/2026-04-07_Shallow_Blue_Probe_BOS/latest_run.log
A_STAGE_TIMED_IN_SECONDS = """
    Submission code size: 92939 bytes
    Shallow Blue probe artifact size: 16982 bytes
    Total submission size int8+zlib: 15933037 bytes
    stopping_early: wallclock_cap train_time:595030ms step:13906/20000
    final_int8_zlib_roundtrip_exact val_loss:2.07145173 val_bpb:1.22683039 eval_time:5743ms
    final_shallow_blue_probe_exact val_bpb:1.19948112 delta_bpb:-0.00619109 elapsed_seconds:267.340
"""


def test_totals_steps_and_times_said_in_other_words():
    run = parse(A_RESULT_BLOCK_IN_WORDS).run
    assert run.steps == 3426 and run.eval_time_s == pytest.approx(105.41) and run.bytes_total == 15_531_548
    assert parse(A_TOTAL_AFTER_NAMED_SIZES).run.bytes_total == 16_182_081  # not the artifact alone
    assert parse(A_TOTAL_AGAINST_THE_CAP).run.bytes_total == 991_210
    run = parse(A_STAGE_TIMED_IN_SECONDS).run
    assert run.score.val_bpb == 1.19948112 and run.eval_time_s == pytest.approx(5.743 + 267.34)


# prs/pr1198/records/track_non_record_16mb/2026-03-31_HybridSparseDiffusion_2h_8xH100/train.log: a launch that
# stopped after its settings, then the script dumped again (as the baseline does, starting with its docstring)
RELAUNCHED_WITH_A_DOCSTRING = '''
    """
    The `train_gpt.py` and `train_gpt_mlx.py` scripts are intended as good launching-off points.
    """

    from __future__ import annotations
    import os
    ====================================================================================================
    model_params:17059912
    world_size:8 grad_accum_steps:1
    seed:1337
    """
    The `train_gpt.py` and `train_gpt_mlx.py` scripts are intended as good launching-off points.
    """

    from __future__ import annotations
    import os
    ====================================================================================================
    model_params:17059912
    world_size:8 grad_accum_steps:1
    seed:1337
    step:100000/100000 val_loss:2.7001 val_bpb:1.5992 train_time:4628742ms step_avg:46.29ms
    Serialized model int8+zlib: 13279699 bytes (payload:17188644 raw_torch:17234389 payload_ratio:3.91x)
    Total submission size int8+zlib: 13340695 bytes
'''


def test_a_relaunched_script_starts_its_run_at_the_docstring_that_opens_it():
    first, second = parse(RELAUNCHED_WITH_A_DOCSTRING).runs
    assert first.relaunched and second.first_line == 11  # the second dump's opening quotes
    assert second.steps == 100_000 and second.bytes_total == 13_340_695


def test_a_loss_in_nats_is_the_val_loss():
    stages = parse(SUMMARY_TIMES_IN_WORDS).run.stages
    assert [(s.val_bpb, s.val_loss) for s in stages[:2]] == [(1.0787, 2.7876), (1.0787, 2.7829)]


# prs/pr169/records/track_10min_16mb/2026-03-20_SlidingWindowMuon6/train.log (lines 12-29)
SEEDS_UNDER_DASHED_BANNERS = """
    Serialized model int8+zlib: 15826978 bytes
    Total submission size int8+zlib: 15882060 bytes
    final_int8_zlib_roundtrip val_loss:2.0760 val_bpb:1.2295 eval_time:1407ms
    final_int8_zlib_roundtrip_exact val_loss:2.07597821 val_bpb:1.22951123
    final_sliding_window val_loss:2.0208 val_bpb:1.1968 stride:256 eval_time:155611ms
    final_sliding_window_exact val_loss:2.02080438 val_bpb:1.19683418

    --- Seed 42 ---
    stopping_early: wallclock_cap step:13688/20000
    final_int8_zlib_roundtrip_exact val_loss:2.07681090 val_bpb:1.23000440
    final_sliding_window val_loss:2.0217 val_bpb:1.1974 stride:256 eval_time:126204ms
    final_sliding_window_exact val_loss:2.02168339 val_bpb:1.19735478

    --- Seed 7 ---
    stopping_early: wallclock_cap step:13688/20000
    final_int8_zlib_roundtrip_exact val_loss:2.07789334 val_bpb:1.23064548
    final_sliding_window val_loss:2.0225 val_bpb:1.1978 stride:256 eval_time:126458ms
    final_sliding_window_exact val_loss:2.02246016 val_bpb:1.19781483
"""

# prs/pr537/records/track_non_record_16mb/2026-03-23_11L_LeakyReLU_PerLayerLR_LegalTTT/train.log (lines 1820-1830)
SEED_EXCERPTS_WITHOUT_AN_ARTIFACT = """
    --- Seed 1337 (i39_s1_55210274) ---
    seed:1337
    step:5200/5200 val_loss:1.9539 val_bpb:1.1572 train_time:2481497ms step_avg:477.21ms
    ttt_sliding:done val_loss=1.923355 val_bpb=1.139122 elapsed=3688.5s
    final_int6_roundtrip_exact val_loss:1.92335521 val_bpb:1.13912231

    --- Seed 42 (i39_s2_55210275) ---
    seed:42
    step:5200/5200 val_loss:1.9552 val_bpb:1.1580 train_time:2499683ms step_avg:480.71ms
    ttt_sliding:done val_loss=1.925248 val_bpb=1.140243 elapsed=3689.0s
    final_int6_roundtrip_exact val_loss:1.92524826 val_bpb:1.14024348
"""


def test_a_dashed_banner_naming_another_seed_starts_its_run_once_the_run_before_is_evaluated():
    runs = parse(SEEDS_UNDER_DASHED_BANNERS).runs
    assert [(r.first_line, r.seed) for r in runs] == [(1, None), (8, 42), (14, 7)]
    assert [r.stages[-1].val_bpb for r in runs] == [1.19683418, 1.19735478, 1.19781483]
    excerpts = parse(SEED_EXCERPTS_WITHOUT_AN_ARTIFACT).runs  # evaluated after its last step, with no artifact
    assert [(r.first_line, r.seed, r.stages[-1].val_bpb) for r in excerpts] == [(1, 1337, 1.13912231), (7, 42, 1.14024348)]


def test_a_run_that_states_no_artifact_is_scored_by_its_evaluation_after_training():
    excerpts = parse(SEED_EXCERPTS_WITHOUT_AN_ARTIFACT).runs
    assert [(r.seed, r.score.val_bpb, r.artifact_assumed) for r in excerpts] == [(1337, 1.13912231, True), (42, 1.14024348, True)]
    assert all("no line states the artifact's size" in r.warnings[-1] for r in excerpts)


# prs/pr1684/records/track_10min_16mb/2026-04-16_RandomBasisMLP_LoRA/train_seed42_partial.log (lines 25-30)
ONLY_A_PRE_QUANTIZATION_EVALUATION = """
    2564/20000 val_loss: 2.8816  val_bpb: 1.2523
    stopping_early: wallclock_cap  train_time: 590061ms  step: 2564/20000
    pre-quantization post-ema  val_loss: 2.88861509  val_bpb: 1.25535884  eval_time: 4857ms

    Post-run: serialize(...) raised ModuleNotFoundError: No module named 'brotli'
"""


def test_an_evaluation_of_the_float_weights_alone_is_never_taken_as_the_artifacts():
    run = parse(ONLY_A_PRE_QUANTIZATION_EVALUATION).run
    assert run.score is None and not run.artifact_assumed
    assert run.last_training_val.val_bpb == 1.2523


# prs/pr1509/records/track_non_record_16mb/2026-04-09_DepthScale_ParameterShared_Iterative_5Lx2_768d/results_summary.log (lines 17-23)
A_SUMMARY_AFTER_THE_LAST_SEED = """
    === Seed 2025 ===
    stopping_early: wallclock train_time:600xxx step:~5500/20000
    Serialized model int8+zlib: 30170827 bytes
    final_int8_zlib_roundtrip_exact val_loss:2.01907849 val_bpb:1.19581201

    === Summary ===
    Mean val_bpb: 1.19617 (std 0.0005)
"""

# prs/pr537/records/track_non_record_16mb/2026-03-23_11L_LeakyReLU_PerLayerLR_LegalTTT/train.log (lines 1826-1836)
A_SUMMARY_TABLE_OF_EVERY_SEED = """
    --- Seed 42 (i39_s2_55210275) ---
    seed:42
    step:5200/5200 val_loss:1.9552 val_bpb:1.1580 train_time:2499683ms step_avg:480.71ms
    ttt_sliding:done val_loss=1.925248 val_bpb=1.140243 elapsed=3689.0s
    final_int6_roundtrip_exact val_loss:1.92524826 val_bpb:1.14024348

    --- 3-Seed Summary ---
    Seed 7:    val_bpb=1.13871882  pre_ttt=1.1569
    Seed 1337: val_bpb=1.13912231  pre_ttt=1.1572
    Seed 42:   val_bpb=1.14024348  pre_ttt=1.1580
    Mean:      val_bpb=1.13936154  pre_ttt=1.1574  std=0.00079
"""


def test_a_mean_over_seeds_or_another_seeds_line_of_a_summary_is_not_an_evaluation():
    run = parse(A_SUMMARY_AFTER_THE_LAST_SEED).run
    assert [s.name for s in run.stages] == ["final_int8_zlib_roundtrip"] and run.score.val_bpb == 1.19581201
    run = parse(A_SUMMARY_TABLE_OF_EVERY_SEED).run
    assert run.seed == 42 and run.score.val_bpb == 1.14024348
    assert not any(s.name.lower().startswith(("mean", "seed 7", "seed 1337")) for s in run.stages)


# prs/pr801/records/track_non_record_16mb/2026-03-25_ANE_v1/train_log.txt (lines 1825, 1831-1833, 1871-1884)
SIZES_IN_AN_INDENTED_SUMMARY = """
    step 4990 loss=4.9620  lr=2.00e-05  32.8ms/step  x[-1.09,1.07] dy[-1.536e+01,1.657e+01]
    Total steps:  5000
    Compile:      635ms (one-time, 0.3%)
    Train time:   163776ms (32.8ms/step)
      8032/8189 windows done...
      val_loss: 5.4222
      val_bpb:  3.2636

      Raw serialized: 21,895,129 bytes
      Compressed: 8,832,241 bytes
      Code size: 21,139 bytes
      Total artifact: 8,853,380 bytes
      Under 16MB: True


      val_bpb: 3.2636
      artifact size: 8,853,380 bytes
      16MB budget remaining: 7,146,620 bytes
"""

# prs/pr1370/records/track_non_record_16mb/2026-04-04_10L_GDN_PureGDN_7k_LegalTTT/supplementary/eval_seed42_legal_ttt.log (lines 4-18)
AN_EVAL_ONLY_LOG_WITH_AN_INDENTED_SIZE = """
    Device: cuda
    Arch: A
    Artifact: /hpfs/scratch/gpfs/mcclec07/code/parameter_golf/gdn_hybrid/checkpoints/7k_v2/final_model_A_PureGDN_seed42.int6.ptz
    TTT enabled: True
    Eval seq_len: 1024, stride: 64
    Loading quantized artifact: /hpfs/scratch/gpfs/mcclec07/code/parameter_golf/gdn_hybrid/checkpoints/7k_v2/final_model_A_PureGDN_seed42.int6.ptz
      Artifact size: 15,170,538 bytes (14.47 MB)
    Model params: 29,926,689
    Validation tokens: 62,021,633

    ============================================================
    Phase 1: Plain sliding-window eval (no TTT)
    ============================================================
    baseline val_loss=2.004715 val_bpb=1.008719 time=1325.3s
    baseline_exact val_loss=2.00471464 val_bpb=1.00871911
"""

# prs/pr1860/records/track_non_record_16mb/2026-04-27_Hymba10B_SP1024_7x512_KV4_8h_unet/run_log.txt (lines 1694-1707)
A_SIZE_AGAINST_THE_CAP_AFTER_THE_LOOP_REPEATED = """
    step:6400  train_loss:2.2782  train_time:597856ms  step_avg:93.41ms
    step:6423  val_loss:2.2584  val_bpb:1.3375  train_time:600021ms
    early_stop:wallclock  final val_bpb:1.3375
    bema:applying bias-corrected EMA weights (n_updates=6423, correction=1.000000)
    checkpoint saved: logs/final_model.pt
    ── Artifact size measurement ──
      code: /workspace/drl-openai-parameter-golf/train_gpt.py = 72,296 bytes
      model raw bf16:   76,714,200 bytes
      model int8 payload: 20,176,876 bytes
      model int8+zlib:  15,405,717 bytes (ratio: 3.80x)
      code total:       72,296 bytes
      ARTIFACT TOTAL:   15,478,013 / 16,000,000 bytes (OK)
      headroom:         521,987 bytes
      compressed model saved: logs/final_model.int8.ptz
"""


def test_sizes_stated_in_an_indented_summary():
    run = parse(SIZES_IN_AN_INDENTED_SUMMARY).run
    assert (run.bytes_total, run.bytes_code) == (8_853_380, 21_139) and run.score.val_bpb == 3.2636
    assert not run.artifact_assumed
    run = parse(AN_EVAL_ONLY_LOG_WITH_AN_INDENTED_SIZE).run
    assert run.bytes_total == 15_170_538 and run.score.val_bpb == 1.00871911
    run = parse(A_SIZE_AGAINST_THE_CAP_AFTER_THE_LOOP_REPEATED).run
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (15_478_013, 15_405_717, 72_296)
    # `final val_bpb:1.3375` repeats the loop's last validation: no evaluation of the artifact, which comes after it
    assert run.score is None and run.last_training_val.val_bpb == 1.3375 and run.artifact_line == 12  # ARTIFACT TOTAL


# prs/pr1456/records/track_non_record_16mb/2026-03-30_HybridQuantGPT_v61_rANS_SWA_10K/train.log (lines 118-133)
SIZES_UNDER_BYTES_KEYS_WITH_SEPARATORS = """
    === SWA Evaluation (7 snapshots) ===
    val_loss:2.0971 val_bpb:1.2420 (swa)

    === Hybrid rANS Artifact Size ===
      rans_compressed_bytes: 12,807,948
      count_bytes: 9,372
      scale_bytes: 90,112
      passthrough_bytes: 2,083,044
      estimated_overhead: 20,992
      total_estimated_bytes: 15,011,468
      total_estimated_mb: 15.01
      under_16mb: 1
"""

# prs/pr538/records/track_10min_16mb/2026-03-20_FP8_ArithCoding_TTT/train_log.txt (lines 1999-2005)
A_MODEL_NAMED_BY_ITS_CODER = """
    Serialized model: 98437419 bytes
    Code size: 76945 bytes
    Total submission size: 98514364 bytes
    Compressing with arithmetic coding...
    Arithmetic coding compression took 48888ms
    Serialized model int6+arithcode: 15835435 bytes
    Total submission size: 15912380 bytes
"""


def test_a_size_keeps_its_thousands_separators_and_its_label_says_what_it_measures():
    run = parse(SIZES_UNDER_BYTES_KEYS_WITH_SEPARATORS).run
    assert run.bytes_model == 12_807_948  # not 12: a token's value ends at a comma, a size does not
    assert run.bytes_total is None  # an estimate is not the artifact's size
    run = parse("total_bytes: 15,011,468, code_bytes: 71,226").run  # written here: sizes listed on one line
    assert (run.bytes_total, run.bytes_code) == (15_011_468, 71_226)
    run = parse(A_MODEL_NAMED_BY_ITS_CODER).run  # `arithcode` and `codebook` name no code
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (15_912_380, 15_835_435, 76_945)
    # prs/pr2012/records/track_non_record_16mb/2026-04-30_VINE_no_gradient_cpu/train.log (line 11)
    assert parse("  Decoded val shard: 4,815,265 bytes (2.0s)").run.bytes_code is None
    # prs/pr1465/records/track_non_record_16mb/2026-04-09_v62_p5a_hm5_phase5a/train_summary.log (line 128)
    assert parse("  mean artifact:  15,553,866 bytes (rans.ptz)").run.bytes_total is None  # a mean over seeds


# prs/pr1980/records/track_non_record_16mb/2026-05-01_StageB_ScalarControlQ_NoTTT_1.07468/repro_code_size.txt (lines 3-7)
SIZES_UNDER_KEYS_NAMING_THE_CODE = """
    source_code_bytes: 160964
    compressed_wrapper_code_bytes: 31947
    compressed_model_bytes: 15962574
    counted_total_bytes: 15994521
    artifact_cap_margin_bytes: 5479
"""

# prs/pr708/records/track_non_record_16mb/2026-03-25_ByteJEPA/byte_jepa_896d14l_2000.txt (lines 44-49)
THE_CODE_PLAIN_AND_COMPRESSED = """
    Serialized model: 290981634 bytes
    Code size: 69323 bytes
    Total submission size: 291050957 bytes
    serialized_artifact_lzma:60603974 bytes
    code_bytes_lzma:69323 bytes
    Total submission size lzma: 60673297 bytes
"""


def test_a_bytes_key_names_the_code_by_a_word_of_its_own():
    run = parse(SIZES_UNDER_KEYS_NAMING_THE_CODE).run
    # the counted code is the compressed wrapper (total = model + code); `wrapper_` is no `per_` key
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (15_994_521, 15_962_574, 31_947)
    assert run.code_sizes == {"plain": 160_964, "compressed": 31_947}
    run = parse(THE_CODE_PLAIN_AND_COMPRESSED).run
    assert run.code_sizes == {"plain": 69_323, "compressed": 69_323}
    assert run.sources["bytes_code_plain"] == 2  # `Code size`, not the lzma'd code under `code_bytes_lzma`
    # Keys no corpus log prints outside source code, written here for the rule: `code` must be a word of the key
    assert parse("codebook_bytes:524288").run.bytes_code is None
    run = parse("total_code_bytes: 72296").run
    assert (run.bytes_code, run.bytes_total) == (72_296, None)  # the code's total, not the artifact's


# prs/pr1574/records/track_10min_16mb/2026-04-12_SSM8_FatState_Mamba_LoRaTTT/logs.txt (line 28)
SIZES_IN_MEGABYTES_THEN_IN_BYTES_AGAINST_THE_CAP = """
    [ARTIFACT] zstd-22 | code=0.04MB model=15.89MB total=15.93MB/16.00MB (15931279 / 16000000 bytes)
"""
# prs/pr29/records/track_10min_16mb/2026-03-19_nidhilak-Aquarius/train.log (line 12)
AN_ESTIMATE_IN_MEGABYTES = """
    Estimated artifact size: 2.84MB (model: 2.82MB, code: 0.02MB)
"""


def test_a_size_in_megabytes_is_no_count_of_bytes():
    run = parse(SIZES_IN_MEGABYTES_THEN_IN_BYTES_AGAINST_THE_CAP).run
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (15_931_279, None, None)  # not 15, 15 and 0
    run = parse(AN_ESTIMATE_IN_MEGABYTES).run
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (None, None, None)  # not 2, 2 and 0

# the same log, on to line 1711
AN_INDENTED_RESULT_AFTER_THE_ARTIFACT = A_SIZE_AGAINST_THE_CAP_AFTER_THE_LOOP_REPEATED + """\
    ── Roundtrip verification (int8+zlib → dequantize → eval) ──
      int8_roundtrip val_loss:2.2658  val_bpb:1.3419  eval_time:38.6s
      bpb_delta_from_quantization: +0.0044
    peak_memory: 16953 MiB allocated  35030 MiB reserved
"""

# prs/pr191/records/track_10min_16mb/2026-03-20_CompressionFundedMLP3x/train.log (lines 6-35)
A_SUMMARY_OF_SEEDS_WITH_INDENTED_RESULTS = """
    ================================================================================
    SEED 1337 SUMMARY
    ================================================================================
    Command:
      RUN_ID=compression_funded_mlp3x_seed1337 SEED=1337 torchrun --standalone --nproc_per_node=8 _run_train_gpt.py

    Config:
      model_params:21778504 world_size:8 grad_accum_steps:1
      train_batch_tokens:786432 train_seq_len:2048 iterations:20000

    Training:
      step:5358/20000 (wallclock limited)
      train_time:600013ms

    Validation checkpoints:
      step:5358  val_loss:2.0063 val_bpb:1.1883

    Final (post-quantization, int6+zlib roundtrip):
      final_int6_zlib_roundtrip_exact val_loss:1.98026694 val_bpb:1.17282555
      eval_time:36551ms
      Total submission size int6+zlib:15933155bytes

    ================================================================================
    SEED 1338 SUMMARY
    ================================================================================
"""


def test_an_indented_result_counts_only_in_a_run_that_trained():
    run = parse(AN_INDENTED_RESULT_AFTER_THE_ARTIFACT).run
    assert (run.score.name, run.score.val_loss, run.score.val_bpb) == ("int8_roundtrip", 2.2658, 1.3419)
    assert run.score.after_artifact and run.eval_time_s == 38.6 and run.bytes_total == 15_478_013
    # a hand-written summary of the seeds' own logs indents their results: no run of its own is scored
    log = parse(A_SUMMARY_OF_SEEDS_WITH_INDENTED_RESULTS)
    assert [r.score for r in log.runs] == [None]


# prs/pr1139/records/track_non_record_16mb/2026-03-30_AutoResearch_ValueEmbeds_MLP3x_1x4090/train.log (lines 480-491, CR line breaks)
AN_AUTORESEARCH_SUMMARY = """
    step 00465 (99.8%) | loss: 3.326348 | lrm: 0.00 | dt: 659ms | tok/sec: 99,454 | mfu: 4.5% | epoch: 1 | remaining: 0s
    step 00466 (100.0%) | loss: 3.323692 | lrm: 0.00 | dt: 659ms | tok/sec: 99,469 | mfu: 4.5% | epoch: 1 | remaining: 0s
    ---
    val_bpb:          1.180076
    training_seconds: 300.6
    total_seconds:    393.9
    peak_vram_mb:     8833.4
    mfu_percent:      4.47
    total_tokens_M:   30.6
    num_steps:        467
"""


def test_a_summary_states_the_training_loop_in_seconds():
    run = parse(AN_AUTORESEARCH_SUMMARY).run
    assert run.score.val_bpb == 1.180076
    assert run.train_time_s == 300.6  # the loop's budget; total_seconds is the whole script's
