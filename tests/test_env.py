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
