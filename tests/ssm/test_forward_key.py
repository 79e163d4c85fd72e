"""The key an eager ``ssd_forward`` is kept under by the launch shortcut (``ssd._forward_key``): everything its
launches read beyond the plan, so that a kept forward is repeated only where the same launches would be made."""

import pytest
import torch

from bambaprof.ssm.kernels import launch, ssd


@pytest.fixture(autouse=True)
def _device(monkeypatch):
    monkeypatch.setattr(launch, "current_device", lambda: 0)


def _tensors(L=64):
    x = torch.zeros(1, L, 4, 8, dtype=torch.bfloat16)
    dt = torch.zeros(1, L, 4)
    A = torch.nn.Parameter(torch.zeros(4), requires_grad=False)
    B, C = torch.zeros(1, L, 1, 16, dtype=torch.bfloat16), torch.zeros(1, L, 1, 16, dtype=torch.bfloat16)
    buffers = tuple(torch.zeros(4) for _ in range(7)) + (torch.empty_like(x),)
    return [x, dt, A, B, C, A, A, A, *buffers]


SETTINGS = (True, True, False, ssd.LaunchConfig(), "triton", False, True, 0.0, float("inf"))


def test_the_same_tensors_and_settings_give_the_same_key():
    tensors = _tensors()
    first = ssd._forward_key(tuple(tensors), SETTINGS)
    assert first == ssd._forward_key(tuple(tensors), SETTINGS) and hash(first) == hash(first)


@pytest.mark.parametrize("change", ["address", "dtype", "stride", "shape", "setting", "device", "buffer"])
def test_anything_the_launches_read_changes_the_key(monkeypatch, change):
    tensors = _tensors()
    settings = SETTINGS
    first = ssd._forward_key(tuple(tensors), settings)
    if change == "address":
        tensors[3] = tensors[3].clone()  # B elsewhere
    elif change == "dtype":
        tensors[1] = tensors[1].to(torch.bfloat16)  # dt in another dtype
    elif change == "stride":
        tensors[0] = torch.zeros(1, 4, 64, 8, dtype=torch.bfloat16).transpose(1, 2)  # x, same shape, other strides
    elif change == "shape":
        tensors[4] = torch.zeros(1, 64, 2, 8, dtype=torch.bfloat16)  # C of two groups
    elif change == "setting":
        settings = SETTINGS[:4] + ("gluon_ordered",) + SETTINGS[5:]
    elif change == "device":
        monkeypatch.setattr(launch, "current_device", lambda: 1)
    elif change == "buffer":
        tensors[-2] = torch.zeros(4)  # a buffer the forward made, elsewhere
    assert ssd._forward_key(tuple(tensors), settings) != first


def test_tensor_subclasses_are_not_keyed():
    class Traced(torch.Tensor):  # stands for fake and functional tensors, which have no address
        pass

    tensors = _tensors()
    tensors[0] = tensors[0].as_subclass(Traced)
    assert ssd._forward_key(tuple(tensors), SETTINGS) is None
