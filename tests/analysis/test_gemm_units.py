"""The units a float32 GEMM kernel ran on, read from the names cuBLAS and CUTLASS give their kernels."""

import pytest

from bambaprof.analysis.gemm_units import CUDA_CORES, TENSOR_CORES, float32_gemm_units


@pytest.mark.parametrize("name, units", [
    # CUDA cores: full float32 FFMA
    ("volta_sgemm_128x64_nn", CUDA_CORES),
    ("ampere_sgemm_128x64_tn", CUDA_CORES),
    ("void cutlass::Kernel2<cutlass_80_simt_sgemm_128x64_8x5_nn_align1>(cutlass_80_simt_sgemm_128x64_8x5_nn_align1"
     "::Params)", CUDA_CORES),
    ("sm80_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize256x64x8_stage3_warpsize2x2x1_ffma_aligna4_alignc4_execute_"
     "kernel__5x_cublas", CUDA_CORES),
    # tensor cores: TF32 (and Hopper's warpgroup kernels, which take float32 only as TF32)
    ("sm90_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize128x128x32_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_"
     "cublas", TENSOR_CORES),
    ("sm80_xmma_gemm_f32f32_tf32f32_f32_nn_n_tilesize128x128x16_stage4_warpsize2x2x1_tensor16x8x8_kernel",
     TENSOR_CORES),
    ("void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_128x128_32x3_nn_align4>(cutlass_80_tensorop_s1688gemm_"
     "128x128_32x3_nn_align4::Params)", TENSOR_CORES),
    ("sm90_xmma_gemm_f32f32_f32_nn_n_tilesize128x128x32_warpgroupsize1x1x1_execute_segment_k_on_kernel__5x_cublas",
     TENSOR_CORES),
    # not said, or not a matrix product: unknown
    ("nvjet_sm90_sss_128x128_64x3_1x2_h_bz_coopA_NNT", None),
    ("Cijk_Ailk_Bljk_SB_MT64x64x16_MI32x32x2x1_SN_1LDSB0_APM1", None),
    ("triton_tem_fused_mm_0", None),
    ("void gemv2T_kernel_val<int, int, float, float, float, float, 128, 16, 4, 4, false, false, "
     "cublasGemvParamsEx<int, cublasGemvTensorStridedBatched<float const>, cublasGemvTensorStridedBatched<float "
     "const>, cublasGemvTensorStridedBatched<float>, float> >(...)", None),
    ("implicit_convolve_sgemm<float, float, 128, 5, 5, 3, 3, 3, 1, false, false, true>", None),
    ("sm80_xmma_fprop_implicit_gemm_f32f32_f32f32_f32_nhwckrsc_nhwc_tilesize128x128x8_ffma", None),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, std::array<char*, 1> >", None),
    ("void cutlass::Kernel<cutlass_80_simt_sgemm_128x128_8x4_nn_align1_epilogue_NumericConverter>(Params)", CUDA_CORES),
])
def test_units_are_read_from_the_kernel_name(name, units):
    assert float32_gemm_units(name) == units
