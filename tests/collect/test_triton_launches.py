"""The Triton launch hook: any Triton kernel's launch carries its tensor arguments' bytes into the trace.

On a CPU-only machine the kernels run on the Triton interpreter (conftest sets TRITON_INTERPRET=1), which
goes through the same hook; on a GPU (``gpu`` marker) the kernel's bytes reach ``analyze``.
"""

from __future__ import annotations

import gzip
import json

import pytest
import torch
import triton
import triton.language as tl

from bambaprof.analysis.traffic import LAUNCH_ARGS_BACKEND
from bambaprof.collect.triton_launches import launch_bytes, recording_triton_launches

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@triton.jit
def _scale_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=mask) * 2.0, mask=mask)


def _launch(x, y):
    n = x.numel()
    _scale_kernel[(triton.cdiv(n, 64),)](x, y, n, BLOCK=64)


def _profiled_events(tmp_path, hook: bool):
    from torch.profiler import ProfilerActivity, profile

    x = torch.arange(256, dtype=torch.float32, device=DEVICE)
    y = torch.empty_like(x)
    _launch(x, y)  # compile outside the profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    ctx = recording_triton_launches() if hook else _null()
    with ctx, profile(activities=acts, record_shapes=True) as prof:
        _launch(x, y)
        if DEVICE == "cuda":
            torch.cuda.synchronize()
    assert torch.equal(y, x * 2)
    path = tmp_path / f"t{int(hook)}.json"
    prof.export_chrome_trace(str(path))
    return path, json.loads(path.read_text())["traceEvents"]


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_launch_records_tensor_bytes(tmp_path):
    _, events = _profiled_events(tmp_path, hook=True)
    ranges = [e for e in events if e.get("name") == "triton::_scale_kernel"]
    assert len(ranges) == 1
    args = ranges[0]["args"]
    assert args["kernel_num_gb"] == pytest.approx(2 * 256 * 4 / 1e9)
    assert args["kernel_backend"] == LAUNCH_ARGS_BACKEND


def test_without_the_hook_nothing_is_recorded_and_the_hook_is_removed(tmp_path):
    with recording_triton_launches():
        with recording_triton_launches():  # nests
            pass
    _, events = _profiled_events(tmp_path, hook=False)
    assert not [e for e in events if str(e.get("name", "")).startswith("triton::")]


def test_bambaprof_kernels_keep_their_exact_metadata(tmp_path):
    from torch.profiler import ProfilerActivity, profile

    from bambaprof.ssm.kernels.cumsum import cumsum

    x = torch.randn(1, 2, 16, 8, device=DEVICE)
    cumsum(x, -2)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    with recording_triton_launches(), profile(activities=acts) as prof:
        cumsum(x, -2)
    path = tmp_path / "c.json"
    prof.export_chrome_trace(str(path))
    names = [e.get("name", "") for e in json.loads(path.read_text())["traceEvents"]]
    assert any(n.startswith("bambaprof::") for n in names)
    assert not any(n.startswith("triton::") for n in names)


def test_launch_bytes_counts_each_tensor_once():
    x = torch.zeros(10, dtype=torch.float16)
    y = torch.zeros(3, 4, dtype=torch.float64)
    tensors, nbytes = launch_bytes((x, y, x, 5, None), {"z": y[:1]})
    assert nbytes == 10 * 2 + 12 * 8 + 4 * 8
    assert len(tensors) == 3


@pytest.mark.gpu
def test_analyze_reports_launch_args_bytes(tmp_path):
    from bambaprof.analysis import analyze

    path, _ = _profiled_events(tmp_path, hook=True)
    gz = tmp_path / "t.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    k = next(r for r in analyze(gz).kernels if "_scale_kernel" in r["name"])
    assert k["bytes_source"] == "launch args" and k["bytes"] == 2 * 256 * 4
