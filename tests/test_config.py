import pytest

from trainer.config import ConfigError, grad_accum_steps, load_config


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
    ({"QUANT_BITS": "4"}, "QUANT_BITS"),
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


def test_world_size_must_divide_the_batch():
    cfg = load_config({"PRESET": "baseline"})
    with pytest.raises(ConfigError, match="world size 3 does not divide TRAIN_MICROBATCHES=8"):
        grad_accum_steps(cfg, 3)
    cfg = load_config({"PRESET": "baseline", "TRAIN_BATCH_TOKENS": "500000"})
    with pytest.raises(ConfigError, match="TRAIN_BATCH_TOKENS=500000 is not divisible"):
        grad_accum_steps(cfg, 8)
