"""The environment a result records: versions, device, and the launch shortcut's state."""

import pytest

from bambaprof._env import environment


@pytest.mark.parametrize("interpret, setting, expected", [
    ("0", None, "on"), ("0", "1", "on"), ("0", "kept", "kept"), ("0", "0", "off"), ("1", None, "off"),
])
def test_the_launch_shortcut_state_is_recorded(monkeypatch, interpret, setting, expected):
    monkeypatch.setenv("TRITON_INTERPRET", interpret)
    if setting is None:
        monkeypatch.delenv("BAMBAPROF_TRITON_FAST_LAUNCH", raising=False)
    else:
        monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", setting)
    info = environment("cpu")
    assert info["launch_shortcut"] == expected
    assert info["torch"] and info["python"] and info["date"].endswith("Z")


@pytest.mark.parametrize("setting, expected", [(None, "triton"), ("gluon_async", "triton"), ("auto", "triton"),
                                               ("triton", "triton"), ("bogus", None), ("gluon_late:128", "triton:128"),
                                               ("Triton:64", "triton:64"), ("auto:7", None)])
def test_the_chunk_scan_is_recorded_as_it_runs_here(scan_env, setting, expected):
    """A Gluon form runs on Hopper only: on the CPU the record says ``triton`` whatever the setting; a name that
    is no scan is unknown (None), not guessed; a kernel chunk named after the scan holds for either scan."""
    scan_env(setting)
    assert environment("cpu")["ssd_scan"] == expected


def test_the_tf32_setting_is_recorded_for_cuda_runs_only():
    """Whether cuBLAS may compute float32 matmuls in TF32 means nothing for a CPU run: unknown there."""
    assert environment("cpu")["matmul_tf32"] is None
