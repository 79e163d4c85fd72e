"""Compile modes and inductor options."""

import pytest

from bambaprof.collect.compile import compile_callable, inductor_options


def test_options_merge_over_the_modes_own():
    assert inductor_options("default", {"epilogue_fusion": True}) == {"epilogue_fusion": True}
    merged = inductor_options("max-autotune", {"triton.cudagraphs": False})
    assert merged["max_autotune"] is True and merged["triton.cudagraphs"] is False


@pytest.mark.parametrize("mode", ["default", "max-autotune-no-cudagraphs"])
def test_a_mode_with_an_option_is_accepted_by_torch_compile(mode):
    # torch.compile checks option names when it is called; "default" once passed every mode's table
    assert callable(compile_callable(lambda x: x + 1, mode, {"epilogue_fusion": True}, dynamic=False))
