"""Loading HF-format Bamba checkpoints: logits equal to transformers' own forward."""

import json

import pytest
import torch

from bambaprof.model.checkpoint import CheckpointError, load_checkpoint

transformers = pytest.importorskip("transformers", reason="transformers is not installed")
pytest.importorskip("safetensors", reason="safetensors is not installed")


def tiny_hf(attention=True, groups=1):
    """A tiny random transformers Bamba. One group, as Bamba-9B: with several groups, transformers
    5.24's pure-PyTorch fallback (used without mamba_ssm) maps groups to heads differently from
    mamba_ssm's kernels and bambaprof (head h reads group h // (heads / groups)), so the two cannot
    be compared there."""
    cfg = transformers.BambaConfig(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, attn_layer_indices=[1] if attention else None, mamba_n_heads=8, mamba_d_head=16,
        mamba_n_groups=groups, mamba_d_state=16, mamba_chunk_size=8, mamba_d_conv=4, mamba_expand=2,
    )
    torch.manual_seed(0)
    model = transformers.BambaForCausalLM(cfg).eval()
    with torch.no_grad():  # HF initialises A_log, D, dt_bias to constants: randomise them too
        for layer in model.model.layers:
            if hasattr(layer, "mamba"):
                layer.mamba.A_log.copy_(torch.log(torch.rand_like(layer.mamba.A_log) * 15 + 1))
                layer.mamba.dt_bias.copy_(torch.randn_like(layer.mamba.dt_bias) - 3)
                layer.mamba.D.copy_(torch.randn_like(layer.mamba.D))
    return model


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("sharded", [False, True])
def test_logits_equal_transformers(tmp_path, attention, sharded):
    hf = tiny_hf(attention)
    hf.save_pretrained(tmp_path, max_shard_size="60KB" if sharded else "10GB")
    if sharded:
        assert (tmp_path / "model.safetensors.index.json").exists()
    ids = torch.randint(0, 128, (2, 21), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids, use_cache=False).logits  # its cache fails without attention layers
        for variant in ("reference", "default"):
            ours, cfg, tok = load_checkpoint(tmp_path, variant=variant, dtype="float32")
            got = ours(ids)
            assert rel_err(got, expected) < 1e-4, variant
    assert cfg.layer_types() == (["mamba", "attention", "mamba"] if attention else ["mamba"] * 3)
    assert tok is None


def test_missing_and_mismatched_files(tmp_path):
    hf = tiny_hf()
    hf.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        load_checkpoint(tmp_path / "nope")
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["mamba_d_state"] = 32
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"mamba.* has shape .* config.json implies"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="'llama' model, not bamba"):
        load_checkpoint(tmp_path)


def test_missing_shard_is_named(tmp_path):
    tiny_hf().save_pretrained(tmp_path, max_shard_size="60KB")
    shard = sorted(tmp_path.glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(CheckpointError, match=f"{shard.name}: missing .listed in model.safetensors.index.json"):
        load_checkpoint(tmp_path)


def test_profile_a_checkpoint(tmp_path, capsys):
    from bambaprof.cli import main

    tiny_hf().save_pretrained(tmp_path / "my-bamba")
    code = main(["profile", "--checkpoint", str(tmp_path / "my-bamba"), "--variant", "default",
                 "--workload", "mixer", "--workload", "prefill", "--seq-len", "16", "--iters", "2", "--warmup", "1",
                 "--runs", str(tmp_path / "runs"), "--format", "json"])
    out, err = capsys.readouterr()
    rows = json.loads(out)["rows"]
    assert code == 0, err
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[0]["run_id"].startswith("ckpt_my-bamba-default-")
    assert main(["profile", "--checkpoint", str(tmp_path / "nowhere"), "--runs", str(tmp_path / "runs")]) == 1
    assert "config.json: missing" in capsys.readouterr().err
