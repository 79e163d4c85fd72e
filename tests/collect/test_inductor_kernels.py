"""Kernel byte counts read from inductor's generated modules (for kernels replayed from CUDA graphs)."""

import types

from bambaprof.collect.inductor_kernels import kernel_counts, loaded_kernel_counts


class _Kernel:
    def __init__(self, **meta):
        self.inductor_meta = meta


def _module(**attrs):
    m = types.ModuleType("generated")
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


def test_counts_by_kernel_name_and_conflicts_left_out():
    a = _module(triton_poi_fused_add_0=_Kernel(kernel_name="triton_poi_fused_add_0", kernel_num_gb=0.5),
                triton_tem_fused_mm_1=_Kernel(kernel_name="triton_tem_fused_mm_1", kernel_num_gb=0.25,
                                              kernel_flop=1e12),
                dynamic=_Kernel(kernel_name="triton_red_fused_sum_2"),  # no count (dynamic shapes): left out
                helper=object(), number=3)
    b = _module(triton_poi_fused_add_0=_Kernel(kernel_name="triton_poi_fused_add_0", kernel_num_gb=0.75),
                triton_tem_fused_mm_1=_Kernel(kernel_name="triton_tem_fused_mm_1", kernel_num_gb=0.25,
                                              kernel_flop=1e12),
                nan=_Kernel(kernel_name="triton_poi_nan_3", kernel_num_gb=float("nan")))
    counts = kernel_counts([a, b])
    assert counts == {"triton_tem_fused_mm_1": {"kernel_num_gb": 0.25, "kernel_flop": 1e12}}


def test_loaded_counts_never_fail_and_skip_earlier_modules():
    from bambaprof.collect.inductor_kernels import loaded_modules

    assert isinstance(loaded_kernel_counts(), dict)
    assert loaded_kernel_counts(exclude=[id(m) for m in loaded_modules()]) == {}
