"""The model's and the SSD cores' phase ranges: present while a profiler records, absent otherwise."""

import json

import pytest
import torch

from bambaprof.model import build_mixer
from bambaprof.model.config import preset
from bambaprof.ranges import phase

MIXER = {"in_proj", "conv", "ssd", "gated_norm", "out_proj"}
CORES = {"default": {"prep", "intra_chunk", "chunk_states", "state_passing", "inter_chunk"},
         "independent": {"prep", "intra_chunk", "chunk_states", "state_passing", "inter_chunk"},
         "triton": {"chunk_prep", "chunk_scan"}}


def _ranges(fn, tmp_path):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    path = tmp_path / "t.json"
    prof.export_chrome_trace(str(path))
    return {e["name"] for e in json.loads(path.read_text())["traceEvents"] if e.get("cat") == "user_annotation"}


@pytest.mark.parametrize("variant", sorted(CORES))
def test_mixer_and_core_steps_are_ranges(variant, tmp_path):
    cfg = preset("tiny", layers=1, dtype="float32")
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU runs triton's kernels interpreted only
    mixer = build_mixer(cfg, variant, seed=0, device=device)
    x = torch.randn(1, 40, cfg.hidden_size, device=device)
    with torch.no_grad():
        names = _ranges(lambda: mixer(x), tmp_path)
    assert MIXER | CORES[variant] <= names


def test_no_range_without_a_profiler():
    import contextlib

    assert isinstance(phase("x"), contextlib.nullcontext)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]):
        assert isinstance(phase("x"), torch.profiler.record_function)
