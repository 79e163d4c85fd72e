"""The matrix of configurations: iteration counts per variant when the user sets none."""

import pytest

from bambaprof.collect.matrix import INTERPRETER_ITERATIONS, build_configs
from bambaprof.errors import UsageError
from bambaprof.run import RunConfig
from bambaprof.sweep.spec import spec_from_flags

DEFAULTS = {k: RunConfig.default_of(k) for k in INTERPRETER_ITERATIONS}
VARIANTS = ("default", "default-optimized", "triton")


def _counts(cfg):
    return {k: getattr(cfg, k) for k in INTERPRETER_ITERATIONS}


def test_triton_variants_on_the_cpu_get_fewer_iterations_unless_set():
    by_variant = {c.variant: _counts(c) for c in build_configs("cpu", variants=VARIANTS, workloads=("mixer",))}
    assert DEFAULTS == {"warmup": 2, "iters": 10, "profile_warmup": 1, "profile_active": 2}
    assert by_variant == {"default": DEFAULTS, "default-optimized": INTERPRETER_ITERATIONS,
                          "triton": INTERPRETER_ITERATIONS}


def test_counts_the_user_sets_apply_to_every_variant():
    configs = build_configs("cpu", variants=VARIANTS, workloads=("mixer",), iters=7, warmup=None)
    assert {c.iters for c in configs} == {7}
    assert {c.variant: c.warmup for c in configs} == {"default": 2, "default-optimized": 1, "triton": 1}


def test_on_a_gpu_every_variant_gets_the_usual_counts():
    configs = build_configs("cuda", variants=VARIANTS, workloads=("mixer",))
    assert all(_counts(c) == DEFAULTS for c in configs)


def test_flags_left_unset_stay_out_of_a_sweep_spec():
    spec = spec_from_flags("tiny", None, False, None, None, None, {"variant": ["triton"]}, None, {},
                           {"warmup": None, "iters": 4, "use_cache": True})
    assert spec["run"] == {"iters": 4, "use_cache": True}


def test_runs_compare_across_iteration_counts_but_not_across_shapes():
    base = RunConfig(variant="default")
    assert RunConfig(variant="triton", iters=3, warmup=1, profile_active=1).comparison_key() == base.comparison_key()
    assert RunConfig(variant="triton", seq_len=128).comparison_key() != base.comparison_key()


def test_an_unset_cache_flag_means_the_cache_on_bambaprof_and_none_on_a_host():
    gen = dict(variants=("default",), workloads=("generate",))
    assert [c.use_cache for c in build_configs("cpu", **gen)] == [True]
    assert [c.use_cache for c in build_configs("cpu", **gen, use_cache=None, host="hf")] == [False]
    assert [c.use_cache for c in build_configs("cpu", **gen, use_cache=False)] == [False]


def test_a_host_asked_to_generate_with_the_cache_is_a_usage_error():
    with pytest.raises(UsageError, match="--host hf generates without the cache"):
        build_configs("cpu", variants=("default",), use_cache=True, host="hf")
    assert [c.use_cache for c in build_configs("cpu", variants=("default",), workloads=("mixer",),
                                               use_cache=True, host="hf")] == [True]
