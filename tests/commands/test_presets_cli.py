"""``bambaprof presets`` and the parameter count."""

import json

import pytest

from bambaprof.cli import main
from bambaprof.commands.presets import parameter_count
from bambaprof.model import build_model, preset


@pytest.mark.parametrize("kw", [{}, {"attention": False}, {"layers": 2}, {"chunk_size": 8}])
def test_parameter_count_equals_the_built_model(kw):
    cfg = preset("tiny", **kw)
    assert parameter_count(cfg) == sum(p.numel() for p in build_model(cfg).parameters())


def test_bamba_9b_has_its_published_size(capsys):
    assert main(["presets", "--preset", "bamba-9b", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert round(row["parameters"] / 1e9, 2) == 9.78  # Bamba-9B: 9.78 B parameters
    assert row["config"]["attn_layer_indices"] == [9, 18, 27]


def test_study_overrides(capsys):
    assert main(["presets", "--preset", "bamba-9b", "--layers", "4", "--no-attention", "--dtype", "bf16",
                 "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["layers"] == 4 and row["attention_layers"] == "none" and row["dtype"] == "bfloat16"
    assert row["weights_bytes"] == 2 * row["parameters"]


def test_bad_override_is_one_line(capsys):
    assert main(["presets", "--layers", "0"]) == 2
    assert capsys.readouterr().err.strip() == "bambaprof: error: --layers must be positive, got 0"
