import pytest

from trainer.config import PRESETS, ConfigError, grad_accum_steps, load_config


def test_baseline_preset_is_the_challenge_shape():
    cfg = load_config({"PRESET": "baseline"})
    assert (cfg.num_layers, cfg.model_dim, cfg.vocab_size) == (9, 512, 1024)
    assert (cfg.num_heads, cfg.num_kv_heads, cfg.train_batch_tokens, cfg.train_seq_len) == (8, 4, 524_288, 1024)
    assert cfg.max_wallclock_seconds == 600.0
    assert grad_accum_steps(cfg, 8) == 1 and grad_accum_steps(cfg, 1) == 8


def test_environment_overrides_preset():
    cfg = load_config({"PRESET": "smoke", "SEED": "42", "NUM_LAYERS": "3", "TIE_EMBEDDINGS": "0",
                       "MAX_WALLCLOCK_SECONDS": "none", "MATRIX_LR": "0.1"})
    assert (cfg.seed, cfg.num_layers, cfg.tie_embeddings, cfg.matrix_lr) == (42, 3, False, 0.1)
    assert cfg.max_wallclock_seconds is None
    assert cfg.run_id.startswith("smoke-s42-")


@pytest.mark.parametrize("env, variable", [
    ({"SEED": "forty-two"}, "SEED"),
    ({"ITERATIONS": "1.5"}, "ITERATIONS"),
    ({"MATRIX_LR": "nan"}, "MATRIX_LR"),
    ({"TIE_EMBEDDINGS": "maybe"}, "TIE_EMBEDDINGS"),
    ({"PRESET": "huge"}, "PRESET"),
    ({"COMPRESSOR": "zstd"}, "COMPRESSOR"),
    ({"MATRIX_BITS": "3"}, "MATRIX_BITS"),
    ({"EMBED_BITS": "9"}, "EMBED_BITS"),
    ({"QUANT_METHOD": "awq"}, "QUANT_METHOD"),
    ({"EMA_DECAY": "1"}, "EMA_DECAY"),
    ({"MIN_LR": "1.5"}, "MIN_LR"),
    ({"ROPE_DIMS": "7"}, "ROPE_DIMS"),
    ({"ROPE_DIMS": "64"}, "ROPE_DIMS"),
    ({"XSA_LAST_N": "9"}, "XSA_LAST_N"),
    ({"NUM_LOOPS": "2", "LOOP_START": "3", "LOOP_END": "9"}, "LOOP_END"),
    ({"PARALLEL_START_LAYER": "4"}, "PARALLEL_START_LAYER"),
    ({"GATE_WINDOW": "500"}, "GATE_WINDOW"),
    ({"MLP_MULT": "0"}, "MLP_MULT"),
    ({"MLP_MULT": "four"}, "MLP_MULT"),
    ({"LEAKY_RELU_SQ_SLOPE": "-0.5"}, "LEAKY_RELU_SQ_SLOPE"),
    ({"GPTQ_RESERVE_SECONDS": "60"}, "GPTQ_RESERVE_SECONDS"),
    ({"GPTQ_CALIBRATION_BATCHES": "0"}, "GPTQ_CALIBRATION_BATCHES"),
    ({"LQER_FACTOR_BITS": "1"}, "LQER_FACTOR_BITS"),
    ({"TTT_ENABLED": "1", "TTT_CHUNK_TOKENS": "64"}, "TTT_CHUNK_TOKENS"),
    ({"TTT_EPOCHS": "0"}, "TTT_EPOCHS"),
    ({"PHASED_TTT_NUM_PHASES": "0"}, "PHASED_TTT_NUM_PHASES"),
    ({"MAX_WALLCLOCK_SECONDS": "0"}, "MAX_WALLCLOCK_SECONDS"),
    ({"MAX_WALLCLOCK_SECONDS": "-5"}, "MAX_WALLCLOCK_SECONDS"),
    ({"NUM_HEADS": "3"}, "NUM_HEADS"),
    ({"NUM_KV_HEADS": "3"}, "NUM_KV_HEADS"),
    ({"EVAL_STRIDE": "5000"}, "EVAL_STRIDE"),
    ({"VOCAB_SIZE": "70000"}, "VOCAB_SIZE"),
    ({"RUN_ID": "../escape"}, "RUN_ID"),
])
def test_malformed_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as err:
        load_config({"PRESET": "smoke", **env})
    assert str(err.value).startswith(variable)


def test_presets_are_the_source_of_preset_names():
    assert {"baseline", "smoke", "frontier", "frontier-smoke"} <= set(PRESETS)
    for name in PRESETS:
        assert load_config({"PRESET": name}).preset == name


def test_frontier_is_the_accepted_records_shape_and_recipe():
    cfg = load_config({"PRESET": "frontier"})
    assert (cfg.vocab_size, cfg.num_layers, cfg.model_dim, cfg.mlp_mult, cfg.train_seq_len) == (8192, 11, 512, 4.0, 2048)
    assert (cfg.quant_method, cfg.matrix_bits, cfg.embed_bits, cfg.num_loops, cfg.parallel_start_layer) == ("gptq", 6, 7, 2, 8)
    assert cfg.ttt_enabled and cfg.ema_decay == 0.9965 and cfg.train_batch_tokens == 786_432
    assert grad_accum_steps(cfg, 8) == 1


def test_frontier_smoke_switches_every_technique_on():
    cfg = load_config({"PRESET": "frontier-smoke"})
    switches = ("ln_scale", "skip_gates_enabled", "smear_gate_enabled", "sparse_attn_gate_enabled", "ortho_init",
                "muon_row_normalize", "polar_express_ns", "lqer_enabled", "ttt_enabled", "phased_ttt_enabled")
    assert all(getattr(cfg, name) for name in switches)
    amounts = ("leaky_relu_sq_slope", "rope_dims", "xsa_last_n", "num_loops", "parallel_start_layer", "muon_wd",
               "min_lr", "ema_decay", "gptq_reserve_seconds", "matrix_clip_sigmas", "embed_clip_sigmas")
    assert all(getattr(cfg, name) > 0 for name in amounts)
    assert cfg.quant_method == "gptq" and (cfg.matrix_bits, cfg.embed_bits) == (6, 7) and cfg.vocab_size == 1024


def test_world_size_must_divide_the_batch():
    cfg = load_config({"PRESET": "baseline"})
    with pytest.raises(ConfigError, match="world size 3 does not divide TRAIN_MICROBATCHES=8"):
        grad_accum_steps(cfg, 3)
    cfg = load_config({"PRESET": "baseline", "TRAIN_BATCH_TOKENS": "500000"})
    with pytest.raises(ConfigError, match="TRAIN_BATCH_TOKENS=500000 is not divisible"):
        grad_accum_steps(cfg, 8)
