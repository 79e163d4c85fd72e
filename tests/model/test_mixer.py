"""The Mamba2 mixer's ``A = -exp(A_log)``: kept between calls by the fused (``triton``) mixer while ``A_log``
is unchanged, recomputed whenever it must be."""

import pytest
import torch

from bambaprof.errors import BambaprofError
from bambaprof.model import build_mixer, preset

#: the GPU where there is one (the fused kernels do not run on CPU tensors there), else the CPU under the
#: interpreter (conftest)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _mixer(variant, device=DEVICE):
    return build_mixer(preset("tiny"), variant, seed=0, device=device)


def test_the_fused_mixer_keeps_A_until_A_log_changes():
    mixer = _mixer("triton")
    with torch.no_grad():
        first = mixer._A()
        assert mixer._A() is first
        assert torch.equal(first, -torch.exp(mixer.A_log.float()))
        mixer.A_log.mul_(0.5)  # an in-place update bumps the version counter
        second = mixer._A()
        assert second is not first and torch.equal(second, -torch.exp(mixer.A_log.float()))
        mixer.load_state_dict({k: v * 1.5 if k == "A_log" else v for k, v in mixer.state_dict().items()})
        assert torch.equal(mixer._A(), -torch.exp(mixer.A_log.float()))
        mixer.A_log = torch.nn.Parameter(torch.zeros_like(mixer.A_log))  # another tensor
        assert torch.equal(mixer._A(), -torch.ones_like(mixer.A_log).float())


def test_A_is_recomputed_when_autograd_records_it_or_the_mixer_is_not_fused():
    fused = _mixer("triton")
    a, b = fused._A(), fused._A()  # grad enabled, A_log requires grad
    assert a is not b and a.requires_grad
    plain = _mixer("default")
    with torch.no_grad():
        assert plain._A() is not plain._A()


def test_a_forward_with_a_kept_A_matches_one_without():
    mixer = _mixer("triton")
    hidden = torch.randn(1, 40, mixer.in_proj.in_features, device=DEVICE)
    with torch.no_grad():
        mixer(hidden)
        kept = mixer(hidden)
        assert mixer._A_kept is not None
        mixer._A_kept = None  # the next call computes A again
        fresh = mixer(hidden)
    assert torch.equal(kept, fresh)


def test_the_fused_mixer_on_cpu_tensors_without_the_interpreter_is_a_clear_error(monkeypatch):
    mixer = _mixer("triton", device="cpu")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(BambaprofError, match="TRITON_INTERPRET=1"), torch.no_grad():
        mixer(torch.randn(1, 8, mixer.in_proj.in_features))


@pytest.mark.gpu
def test_a_captured_forward_reads_A_log_at_replay():
    """A CUDA graph captured after A was kept computes A inside the graph, so a replay after an in-place
    update of ``A_log`` matches an eager forward with the new values."""
    mixer = build_mixer(preset("tiny"), "triton", seed=0, device="cuda")
    hidden = torch.randn(1, 64, mixer.in_proj.in_features, device="cuda")
    with torch.no_grad():
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            mixer(hidden)  # warm-up (compilation) outside the capture; keeps A
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = mixer(hidden)
        mixer.A_log.mul_(0.5)
        graph.replay()
        assert torch.equal(out, mixer(hidden))
