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


H100_ALIGN1 = ("void cutlass::Kernel2<cutlass_75_tensorop_bf16_s1688gemm_bf16_256x128_nn_align1>(cutlass_75_tensorop_"
               "bf16_s1688gemm_bf16_256x128_nn_align1::Params)")  # cuBLAS on an H100 for N = 50257, K = 4097, N = 1001


@pytest.mark.parametrize("name, width", [
    (H100_ALIGN1, 2),
    ("cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_32x6_tn_align8", 16),
    ("cutlass_80_tensorop_f16_s16816gemm_relu_f16_64x64_64x3_tn_align2", 4),
    ("cutlass_80_tensorop_s1688tf32gemm_256x128_16x3_tn_align4", 16),
    ("cutlass_80_tensorop_s1688gemm_128x128_16x4_nn_align2", 8),
    ("cutlass_tensorop_i8816gemm_256x128_64x3_tn_align4", 4),
    # not a tensor-op GEMM, or no alignment in the name: unknown
    ("void cutlass::Kernel2<cutlass_80_simt_sgemm_256x128_8x4_nn_align1>(...)", None),
    ("nvjet_sm90_tst_160x256_64x3_2x1_v_bz_coopA_NNN", None),
    ("cutlass_80_tensorop_bf16_s16816fprop_optimized_bf16_64x64_32x6_nhwc_align8", None),
    ("cutlass_80_tensorop_bf16_s16816gemm_bf16_64x64_32x6_tn", None),
])
def test_tensor_op_gemm_alignment_from_the_name(name, width):
    from bambaprof.analysis.gemm_units import gemm_alignment_bytes

    assert gemm_alignment_bytes(name) == width
