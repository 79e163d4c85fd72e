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


def test_graphs_left_out_unwraps_inductors_cudagraphify_and_restores_it():
    import torch._inductor.compile_fx as compile_fx

    from bambaprof.collect.compile import graphs_left_out

    saved = compile_fx.cudagraphify

    def model(inputs):
        return inputs

    with graphs_left_out():
        assert compile_fx.cudagraphify(model, static_input_idxs=(), device_index=0) is model
    assert compile_fx.cudagraphify is saved
    with pytest.raises(RuntimeError), graphs_left_out():
        raise RuntimeError("restored on the way out too")
    assert compile_fx.cudagraphify is saved


@pytest.mark.gpu
def test_graphs_left_out_runs_the_cached_compiled_code_launched_by_its_ops():
    """Compiled as reduce-overhead twice: the second time inside graphs_left_out, inductor's FX graph cache
    returns the same code and its kernels are launched one by one (no cudaGraphLaunch in the trace)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from bambaprof.collect.compile import graphs_left_out, reset_compiler

    x, w = torch.randn(256, 512, device="cuda"), torch.randn(512, 256, device="cuda")

    def step():
        reset_compiler()
        f = torch.compile(lambda a, b: torch.relu(a @ b) * 2, mode="reduce-overhead")
        for _ in range(3):
            f(x, w)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            out = f(x, w).clone()
            torch.cuda.synchronize()
        names = {e.name for e in prof.events()}
        return out, any("cudaGraphLaunch" in n for n in names), sum(1 for e in prof.events()
                                                                      if e.device_type.name == "CUDA")

    expected = torch.relu(x @ w) * 2
    out, graphed, _ = step()
    assert graphed and torch.allclose(out, expected, atol=1e-3, rtol=1e-3)
    with graphs_left_out():
        out, graphed, kernels = step()
        from torch._dynamo.utils import counters

        hits = counters["inductor"]["fxgraph_cache_hit"]
    assert not graphed and kernels >= 2 and torch.allclose(out, expected, atol=1e-3, rtol=1e-3)
    assert hits >= 1  # the measured compilation's code, from inductor's cache
    reset_compiler()
