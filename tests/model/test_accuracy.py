"""bambaprof accuracy: exact variants agree with the reference, independent drifts with length."""

import json

import pytest
import torch

from bambaprof.cli import main
from bambaprof.model import build_model, preset
from bambaprof.model.accuracy import measure_accuracy, perplexity


def loud_model():
    """A tiny model with larger weights than the default init, so variants' differences show."""
    cfg = preset("tiny", attention=False).replace(initializer_range=0.3)
    return build_model(cfg, seed=2)


def test_exact_variants_agree_and_independent_grows_with_length():
    model = loud_model()
    g = torch.Generator().manual_seed(0)
    prompts = [{"name": f"len{L}", "ids": torch.randint(0, 256, (2, L), generator=g)} for L in (16, 48, 96)]
    rows = measure_accuracy(model, ["default", "independent"], prompts, new_tokens=6)
    by = {(r.variant, r.seq_len): r for r in rows}
    for L in (16, 48, 96):
        d = by[("default", L)]
        assert d.kl_mean < 1e-9 and d.top1_agreement_pct == 100.0 and d.greedy_agreement_pct == 100.0
    assert by[("independent", 16)].kl_mean < 1e-9  # one chunk: exact
    assert by[("independent", 48)].chunks == 3
    assert by[("independent", 96)].kl_mean > by[("independent", 48)].kl_mean > 1e-6
    assert model.variant.name == "default" and next(model.parameters()).dtype == torch.float32


def test_perplexity_of_a_uniform_model_is_the_vocabulary():
    model = build_model(preset("tiny").replace(initializer_range=0.0))
    assert perplexity(model, list(range(40)), window=16, device="cpu") == pytest.approx(256, rel=1e-6)


def test_cli_and_attach(tmp_path, capsys):
    assert main(["profile", "--variant", "default", "--workload", "mixer", "--seq-len", "16", "--iters", "1",
                 "--warmup", "1", "--runs", str(tmp_path), "--format", "json"]) == 0
    run = json.loads(capsys.readouterr().out)["rows"][0]["run_id"]
    code = main(["accuracy", "--variant", "default", "--variant", "independent", "--seq-len", "40", "--new-tokens",
                 "4", "--attach", str(tmp_path / run), "--format", "json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0 and [r["variant"] for r in rows] == ["default", "independent"] and rows[1]["chunks"] == 3
    from bambaprof.run import read_manifest

    stored = read_manifest(tmp_path / run).accuracy  # through the typed reader, as report reads it
    assert [{k: getattr(a, k) for k in r} for a, r in zip(stored, rows)] == rows
    from bambaprof.render.html import build_report

    assert 'id="accuracy"' in build_report([tmp_path / run])
    assert main(["accuracy", "--text", "x.txt", "--seq-len", "8"]) == 2


def test_perplexity_with_a_checkpoint_tokenizer(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    from tests.model.test_checkpoint import tiny_hf

    tiny_hf().save_pretrained(tmp_path / "ck")
    vocab = {"[UNK]": 0, **{f"w{i}": i + 1 for i in range(100)}}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "ck")
    (tmp_path / "text.txt").write_text(" ".join(f"w{i % 100}" for i in range(300)))
    code = main(["accuracy", "--checkpoint", str(tmp_path / "ck"), "--variant", "default", "--seq-len", "12",
                 "--new-tokens", "2", "--text", str(tmp_path / "text.txt"), "--format", "json", "--dtype", "float32"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0 and rows[0]["perplexity"] > 1 and rows[0]["perplexity"] == pytest.approx(
        rows[0]["reference_perplexity"], rel=1e-4)
