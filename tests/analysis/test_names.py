"""Kernel names: the grouping key, and the readable form tables show."""

from pathlib import Path

import pytest

from bambaprof.analysis.analysis import analyze
from bambaprof.analysis.names import kernel_display_name, normalize_kernel_name
from bambaprof.render.tables import kernel_label

ROOT = Path(__file__).resolve().parents[2]
TRACES = sorted((ROOT / "tests" / "data").glob("*.json.gz")) + sorted((ROOT / "traces" / "examples").iterdir())

COPY_BF16 = ("void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<at::native::"
             "direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#12}::"
             "operator()() const::{lambda(c10::BFloat16)#1}>(at::TensorIteratorBase&, at::native::"
             "direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::{lambda()#12}::"
             "operator()() const::{lambda(c10::BFloat16)#1} const&)::{lambda(int)#1}>(int, "
             "at::native::gpu_kernel_impl_nocast<...>)")


@pytest.mark.parametrize("name, readable", [
    (normalize_kernel_name(COPY_BF16),
     "elementwise_kernel<128, 4, gpu_kernel_impl_nocast<direct_copy_kernel_cuda[BFloat16]>[int]>"),
    ("at::native::elementwise_kernel<128, 2, at::native::gpu_kernel_impl_nocast<at::native::BinaryFunctor<float, "
     "float, float, at::native::binary_internal::MulFunctor<float> > >(at::TensorIteratorBase&, at::native::"
     "BinaryFunctor<float, float, float, at::native::binary_internal::MulFunctor<float> > const&)::{lambda(int)#1}>",
     "elementwise_kernel<128, 2, gpu_kernel_impl_nocast<BinaryFunctor<float, float, float, MulFunctor<float>>>[int]>"),
    ("at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::silu_kernel("
     "at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#2}::operator()() const::"
     "{lambda(float)#1}, std::array<char*, 2ul> >",
     "vectorized_elementwise_kernel<4, silu_kernel[float], array<char*, 2ul>>"),
    ("std::enable_if<!(false), void>::type internal::gemvx::kernel<int, int, float, float, float, float, false, "
     "true, false, false, 7, false, cublasGemvParamsEx<int, cublasGemvTensorStridedBatched<float const>, "
     "cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float>, float> >",
     "kernel<int, int, float, float, float, float, false, true, false, false, 7, false, cublasGemvParamsEx<int, "
     "cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float const>, "
     "cublasGemvTensorStridedBatched<float>, float>>"),
    # names without C++ decoration are left alone
    ("triton_poi_fused__to_copy_add_mul", "triton_poi_fused__to_copy_add_mul"),
    ("nvjet_sm90_tst_128x128_64x6_2x1_v_bz_TTT", "nvjet_sm90_tst_128x128_64x6_2x1_v_bz_TTT"),
    ("_chunk_scan_fwd_kernel", "_chunk_scan_fwd_kernel"),
    ("Memcpy DtoD (Device -> Device)", "Memcpy DtoD (Device -> Device)"),
])
def test_readable_names(name, readable):
    assert kernel_display_name(name) == readable


@pytest.mark.parametrize("odd", ["", "   ", "void ", "a::<<(((", "::", "x::{lambda()#1}", "f(a&)"])
def test_odd_names_never_come_back_empty_or_raise(odd):
    out = kernel_display_name(odd)
    assert isinstance(out, str) and (out.strip() or not odd.strip())


def test_distinct_kernels_of_every_committed_trace_keep_distinct_readable_names():
    # the readable form may only drop what does not tell kernels apart: over every trace in the repository
    # (H200 eager, compiled and Triton runs), no two kernels of one trace read alike
    checked = 0
    for trace in TRACES:
        names = [k["name"] for k in analyze(trace).kernels if k["kind"] == "kernel"]
        readable = {}
        for name in names:
            readable.setdefault(kernel_display_name(name), set()).add(name)
        merged = {short: full for short, full in readable.items() if len(full) > 1}
        assert not merged, (trace.name, merged)
        checked += len(names)
    assert checked > 100


def test_tables_show_the_readable_form_cut_to_a_width():
    assert kernel_label(normalize_kernel_name(COPY_BF16)) == (
        "elementwise_kernel<128, 4, gpu_kernel_impl_nocast<direct_copy_kernel_cuda[BFloat16]>[int]>"[:38]
        + "..." + "elementwise_kernel<128, 4, gpu_kernel_impl_nocast<direct_copy_kernel_cuda[BFloat16]>[int]>"[-39:])
    assert kernel_label(None) == "" and kernel_label("short") == "short"
