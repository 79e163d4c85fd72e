"""The transformers host: transformers' Bamba with bambaprof's SSD cores."""

import pytest
import torch

from bambaprof.errors import BambaprofError
from bambaprof.model.checkpoint import load_checkpoint
from bambaprof.model.hosts import HostedMixer, host_transformers

transformers = pytest.importorskip("transformers", reason="transformers is not installed")


@pytest.mark.parametrize("attention", [True, False])
def test_hosted_transformers_equals_bambaprof_model(tmp_path, attention):
    from tests.model.test_checkpoint import rel_err, tiny_hf

    hf = tiny_hf(attention)
    hf.save_pretrained(tmp_path)
    ids = torch.randint(0, 128, (2, 21), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        original = hf(ids, use_cache=False).logits
        for variant in ("default", "reference", "independent"):
            host_transformers(hf, variant)
            hosted = hf(ids, use_cache=False).logits
            ours, _, _ = load_checkpoint(tmp_path, variant=variant, dtype="float32")
            assert rel_err(hosted, ours(ids)) < 1e-5, variant  # the host equals bambaprof's own model
            if variant != "independent":
                assert rel_err(hosted, original) < 1e-4, variant  # exact cores keep transformers' output
            else:
                assert rel_err(hosted, original) > 1e-6  # 21 tokens over 3 chunks of 8: the approximation shows
    assert all(isinstance(layer.mamba, HostedMixer) for layer in hf.model.layers if hasattr(layer, "mamba"))
    # weights are shared, not copied
    layer = next(layer for layer in hf.model.layers if hasattr(layer, "mamba"))
    assert layer.mamba.core.in_proj.weight.data_ptr() == hf.state_dict()["model.layers.0.mamba.core.in_proj.weight"].data_ptr()


def test_cache_is_refused(tmp_path):
    from tests.model.test_checkpoint import tiny_hf

    hf = host_transformers(tiny_hf(attention=True), "default")
    with pytest.raises(BambaprofError, match="runs without its cache"):
        with torch.no_grad():
            hf(torch.zeros(1, 4, dtype=torch.long), use_cache=True)


def test_profile_with_the_transformers_host(tmp_path, capsys):
    import json

    from bambaprof.cli import main
    from bambaprof.run import read_manifest

    # no --no-cache needed: a host generates without the cache unless asked for it, which is an error
    code = main(["profile", "--host", "hf", "--variant", "default", "--variant", "independent",
                 "--seq-len", "24", "--new-tokens", "3", "--iters", "2", "--warmup", "1",
                 "--runs", str(tmp_path), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows), rows
    assert all(r["run_id"].startswith("tiny_hf-") for r in rows)
    manifest = read_manifest(tmp_path / rows[-1]["run_id"])
    assert manifest.config.workload == "generate" and manifest.config.use_cache is False
    assert main(["profile", "--host", "hf", "--use-cache", "--runs", str(tmp_path / "cached")]) == 2
    assert "generates without the cache: leave out --use-cache" in capsys.readouterr().err
    assert not (tmp_path / "cached").exists()


def test_fms_host():
    fms_bamba = pytest.importorskip("fms.models.bamba", reason="ibm-fms is not installed")
    from bambaprof.model.hosts import HostedFmsSSM, host_fms
    from tests.model.test_checkpoint import rel_err

    cfg = fms_bamba.BambaConfig(src_vocab_size=128, emb_dim=64, nlayers=3, nheads=4, kvheads=2, head_dim=16,
                                attn_layer_indices=[1], mamba_n_heads=8, state_size=16, n_groups=1, chunk_size=8)
    torch.manual_seed(0)
    model = fms_bamba.Bamba(cfg)
    model.reset_parameters()
    with torch.no_grad():
        for layer in model.base_model.layers:
            if getattr(layer, "ssm", None) is not None:
                layer.ssm.A_log.copy_(torch.log(torch.rand_like(layer.ssm.A_log) * 15 + 1))
                layer.ssm.dt_bias.copy_(torch.randn_like(layer.ssm.dt_bias) - 3)
                layer.ssm.D.copy_(torch.randn_like(layer.ssm.D))
        model.eval()
        ids = torch.randint(0, 128, (2, 21), generator=torch.Generator().manual_seed(5))
        original = model(ids)
        for variant in ("default", "reference"):
            host_fms(model, variant)
            assert rel_err(model(ids), original) < 1e-4, variant  # exact cores: FMS's own output
        host_fms(model, "independent")
        assert rel_err(model(ids), original) > 1e-6
    assert sum(isinstance(getattr(layer, "ssm", None), HostedFmsSSM) for layer in model.base_model.layers) == 2


def test_profile_with_the_fms_host(tmp_path, capsys):
    pytest.importorskip("fms.models.bamba", reason="ibm-fms is not installed")
    import json

    from bambaprof.cli import main
    from bambaprof.run import read_manifest

    code = main(["profile", "--host", "fms", "--no-cache", "--variant", "default", "--seq-len", "24",
                 "--new-tokens", "3", "--iters", "2", "--warmup", "1", "--runs", str(tmp_path), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["workload"] for r in rows] == ["mixer", "prefill", "generate"] and all(r["status"] == "ok" for r in rows)
    assert all(r["run_id"].startswith("tiny_fms-") for r in rows)
    # generation on a host is timed per token like on bambaprof's own model
    manifest = read_manifest(tmp_path / rows[2]["run_id"])
    assert manifest.timings.ttft_ms.n == 2 and manifest.timings.inter_token_ms.n == 2 * 2
    assert manifest.timings.latency_ms.median > manifest.timings.ttft_ms.median


@pytest.mark.parametrize("name", ["cache_params", "past_key_values", "past_key_value"])
def test_a_cache_passed_by_keyword_is_refused_too(name):
    from tests.model.test_checkpoint import tiny_hf

    hf = host_transformers(tiny_hf(attention=False), "default")
    mixer = next(layer.mamba for layer in hf.model.layers if hasattr(layer, "mamba"))
    x = torch.zeros(1, 4, hf.config.hidden_size)
    with pytest.raises(BambaprofError, match="runs without its cache"):
        mixer(x, **{name: object()})
    assert mixer(x, **{name: None}).shape == x.shape
