"""The Triton cumulative-sum kernel (interpreter on CPU, compiled on GPU)."""

import pytest
import torch

from bambaprof.ssm.capabilities import cuda_available


@pytest.mark.parametrize(
    "shape,dim",
    [((5,), 0), ((3, 16), -1), ((2, 3, 8, 8), -2), ((2, 4, 3, 37), -1), ((6, 5, 40), 1), ((1, 2, 3, 9, 9), 3)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cumsum_matches_torch(shape, dim, dtype):
    from bambaprof.ssm.kernels.cumsum import cumsum

    device = "cuda" if cuda_available() else "cpu"
    t = torch.randn(*shape, dtype=dtype, device=device)
    out = cumsum(t, dim)
    assert out.dtype == dtype and out.shape == t.shape
    torch.testing.assert_close(out, torch.cumsum(t, dim), rtol=1e-5, atol=1e-5)


def test_cumsum_of_non_contiguous_input():
    from bambaprof.ssm.kernels.cumsum import cumsum

    device = "cuda" if cuda_available() else "cpu"
    t = torch.randn(4, 6, 8, device=device).transpose(0, 2)
    torch.testing.assert_close(cumsum(t, 1), torch.cumsum(t, 1))


def test_cpu_without_interpreter_is_a_clear_error(monkeypatch):
    from bambaprof.errors import BambaprofError
    from bambaprof.ssm.capabilities import check_triton_device

    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(BambaprofError, match="TRITON_INTERPRET=1"):
        check_triton_device("default-optimized", torch.zeros(1))


def test_profiled_launch_carries_its_byte_count(tmp_path):
    from torch.profiler import profile

    from bambaprof.analysis.trace import load_trace
    from bambaprof.ssm.kernels.cumsum import cumsum

    device = "cuda" if cuda_available() else "cpu"
    t = torch.randn(4, 64, device=device)
    with profile(record_shapes=True) as prof:
        cumsum(t, -1)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    tr = load_trace(path)
    rows = [i for i, n in enumerate(tr.ops.name) if n == "bambaprof::cumsum"]
    assert rows, "the launch is recorded"
    assert tr.ops.kernel_num_gb[rows[0]] * 1e9 == pytest.approx(2 * 4 * 64 * 4)
    assert tr.ops.kernel_flop[rows[0]] == 4 * 64
