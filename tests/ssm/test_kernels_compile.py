"""The triton variant's kernels compile for the H200 (sm_90) here, with no GPU: the interpreter that
the other CPU tests use never compiles them, so this is what catches an error of the GPU path in CI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ptxas_available() -> bool:
    import triton

    return (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas").is_file()


@pytest.mark.skipif(not _ptxas_available(), reason="this Triton has no bundled ptxas to compile for NVIDIA GPUs")
@pytest.mark.parametrize("offsets", ["i32", "i64"])
def test_kernels_compile_for_sm90_with_tensor_core_products(offsets):
    env = dict(os.environ, TRITON_INTERPRET="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    extra = ["--i64"] if offsets == "i64" else []
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "triton_resource_usage.py"), "--json", *extra],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kernels = json.loads(proc.stdout)["kernels"]
    assert set(kernels) == {"_chunk_prep", "_chunk_prep_cb_tiles", "_chunk_scan", "_decode"}
    for name in ("_chunk_prep", "_chunk_prep_cb_tiles", "_chunk_scan"):
        assert kernels[name]["hgmma"] + kernels[name]["hmma"] > 0, f"{name}: no tensor-core instructions"


MIXER_KERNELS = """
import json
from bambaprof.ssm.kernels import aot, gemv, mixer, sample
bf16 = {name: "*bf16" for name in ("x_ptr", "z_ptr", "w_ptr", "b_ptr", "out_ptr", "xbc_ptr", "dt_ptr", "conv_ptr",
                                   "cb_ptr", "y_ptr", "d_ptr", "sum_ptr")}
# each kernel as the Bamba-9B model launches it (b=1, L=2048 for the conv; a decode token; 8192- and 4096-wide
# norm rows), so that strides of 1 are constants as in the launched kernel
CONV, IN_PROJ = 8448, 16768
out = {
    "conv1d_silu": aot.resource_usage(mixer._conv1d_silu_kernel, bf16,
                                      {"K": 4, "HAS_BIAS": True, "BLOCK_L": 32, "BLOCK_C": 128},
                                      values=dict(L=2048, C=CONV, stride_xb=2048 * IN_PROJ, stride_xl=IN_PROJ,
                                                  stride_ob=2048 * CONV, stride_ol=CONV)),
    "mixer_decode_step": aot.resource_usage(mixer._mixer_decode_kernel, {**bf16, "counter_ptr": "*i64"},
                                            {"K": 4, "BP": mixer.DECODE_BP, "BN": 128, "HAS_CONV_BIAS": True,
                                             "HAS_D": True, "HAS_DT_BIAS": True, "CLAMP": True},
                                            num_warps=mixer.DECODE_WARPS,
                                            values=dict(stride_xbc=IN_PROJ, stride_dt=IN_PROJ, stride_cb=CONV * 4,
                                                        stride_cc=4, stride_sb=128 * 64 * 128, stride_sh=64 * 128,
                                                        stride_sp=128, stride_y=8192, H=128, P=64, N=128, GN=128,
                                                        INTER=8192, heads_per_group=128, n_programs=512)),
    "mixer_decode_step_norm": aot.resource_usage(mixer._mixer_decode_kernel, {**bf16, "counter_ptr": "*i64",
                                                  "nw_ptr": "*bf16"},
                                                 {"K": 4, "BP": mixer.DECODE_BP, "BN": 128, "HAS_CONV_BIAS": True,
                                                  "HAS_D": True, "HAS_DT_BIAS": True, "CLAMP": True, "NORM": True,
                                                  "NBLOCK": 8192, "ONE_PASS": True},
                                                 num_warps=mixer.DECODE_WARPS,
                                                 values=dict(stride_xbc=IN_PROJ, stride_dt=IN_PROJ, stride_cb=CONV * 4,
                                                             stride_cc=4, stride_sb=128 * 64 * 128,
                                                             stride_sh=64 * 128, stride_sp=128, stride_y=8192,
                                                             stride_z=IN_PROJ, stride_out=8192, H=128, P=64, N=128,
                                                             GN=128, INTER=8192, heads_per_group=128,
                                                             n_programs=512, row_programs=512)),
    "gated_rmsnorm": aot.resource_usage(mixer._gated_rmsnorm_kernel, bf16, {"BLOCK": 8192}, num_warps=8,
                                        values=dict(N=8192, stride_x=8192, stride_z=IN_PROJ, stride_o=8192)),
    "add_rmsnorm": aot.resource_usage(mixer._add_rmsnorm_kernel, bf16, {"BLOCK": 4096}, num_warps=4,
                                      values=dict(N=4096, stride_x=4096, stride_d=4096, stride_o=4096, stride_s=4096)),
}
# the decode GEMVs at their committed configurations (one row; rows padded to 16)
for (N, K), cfg in gemv.CONFIGS_ONE_ROW.items():
    prologue = 2 if K == 14336 else 1
    out[f"gemv_one_row_{N}x{K}"] = aot.resource_usage(
        gemv._prologue_gemv_kernel, {n: "*bf16" for n in ("d_ptr", "nw_ptr", "s_ptr")},
        {"PROLOGUE": prologue, "HAS_DELTA": prologue == 1, "BLOCK_M": 1, "BLOCK_N": cfg.block_n,
         "BLOCK_K": cfg.block_k, "ROW_BLOCK": 512, "STAGES": cfg.stages, "DOT_F32": False},
        num_warps=cfg.warps, values=dict(M=1, N=N, K=K, stride_x=K * prologue, stride_d=K, stride_s=K, stride_w=K,
                                         stride_o=N))
for (N, K), cfg in gemv.CONFIGS.items():
    out[f"gemv_rows_{N}x{K}"] = aot.resource_usage(
        gemv._prologue_gemv_kernel, {n: "*bf16" for n in ("d_ptr", "nw_ptr", "s_ptr")},
        {"PROLOGUE": 1, "HAS_DELTA": True, "BLOCK_M": 16, "BLOCK_N": cfg.block_n, "BLOCK_K": cfg.block_k,
         "ROW_BLOCK": 512, "STAGES": cfg.stages, "DOT_F32": False},
        num_warps=cfg.warps, values=dict(N=N, K=K, stride_x=K, stride_d=K, stride_s=K, stride_w=K, stride_o=N))
# greedy sampling over Bamba's vocabulary (bf16 logits)
out["greedy_argmax"] = aot.resource_usage(
    sample._argmax_kernel, {"x_ptr": "*bf16", "part_ptr": "*i32", "count_ptr": "*i32", "out_ptr": "*i64"},
    {"BLOCK": sample.BLOCK, "SP": 32}, num_warps=4, values=dict(V=128256, stride_x=128256, S=32))
try:  # a value for an argument the kernel does not have is refused, not ignored
    aot.resource_usage(mixer._add_rmsnorm_kernel, bf16, {"BLOCK": 4096}, values=dict(stride_q=1))
except ValueError as exc:
    out["unknown_value"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.skipif(not _ptxas_available(), reason="this Triton has no bundled ptxas to compile for NVIDIA GPUs")
def test_mixer_kernels_compile_for_sm90_without_spills():
    """The fused mixer kernels at the Bamba-9B mixer's sizes (8192-wide norm rows, bf16), the decode GEMVs at
    their committed configurations and greedy sampling over Bamba's vocabulary, specialised as the model
    launches them, compile for the H200 and keep everything in registers."""
    env = dict(os.environ, TRITON_INTERPRET="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", MIXER_KERNELS], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    usage = json.loads(proc.stdout.strip().splitlines()[-1])
    assert usage.pop("unknown_value") == "_add_rmsnorm_kernel has no arguments stride_q"
    gemvs = {f"gemv_one_row_{n}x{k}" for n, k in ((16768, 4096), (28672, 4096), (4096, 14336))} | \
        {f"gemv_rows_{n}x{k}" for n, k in ((16768, 4096), (28672, 4096))}
    assert set(usage) == {"conv1d_silu", "mixer_decode_step", "mixer_decode_step_norm", "gated_rmsnorm",
                          "add_rmsnorm", "greedy_argmax"} | gemvs
    for name, u in usage.items():
        assert u["registers"] > 0 and u["stack_bytes"] == 0 and u["local_loads"] == 0, (name, u)
    for name in gemvs:  # padded rows multiply on the tensor cores, one row on the CUDA cores
        assert (usage[name]["hgmma"] + usage[name]["hmma"] > 0) == name.startswith("gemv_rows"), (name, usage[name])


HOPPER_SCAN = """
import itertools
import json
from bambaprof.ssm.kernels import aot, ssd_sm90
out = {}
for N, Q, factor, pipelined, packed, d_mma, lg2, late in (
        (128, 256, True, False, False, False, False, False), (128, 256, False, False, False, False, False, False),
        (128, 256, True, True, False, False, False, False), (128, 256, True, True, True, False, False, False),
        (128, 256, True, True, True, True, False, False), (64, 128, True, True, True, True, False, False),
        (128, 64, True, False, False, True, False, False), (128, 192, True, True, False, False, False, False),
        (128, 256, True, True, True, False, True, False), (64, 64, True, False, False, False, True, True),
        (128, 256, True, True, True, False, True, True)):
    out[f"{N}-{Q}-{factor}-{pipelined}-{packed}-{d_mma}-{lg2}-{late}"] = aot.resource_usage(
        ssd_sm90._chunk_scan_sm90, {"y_ptr": "*bf16", "flag_ptr": "*i32", "ticket_ptr": "*i32"},
        {"Q": Q, "N": N, "HAS_D": True, "HAS_INIT": True, "I64": False, "FACTOR": factor, "ASYNC": pipelined,
         "PACKED": packed, "DMMA": d_mma, "LG2": lg2, "LATE": late},
        signature=ssd_sm90.descriptor_signature(N),
        # as a Bamba-9B layer launches it (b=1, L=2048, h=128, p=64, g=1)
        values=dict(L=2048, H=128, G=1, P=64, nchunks=2048 // Q, heads_per_group=128, n_pblocks=1,
                    s_y_b=2048 * 8192, s_y_l=8192, s_y_h=64))
from bambaprof.ssm.kernels import ssd_sm90_slim
slim_forms = [((N, Q), {"SCALED": scaled}) for (N, Q), scaled in
              itertools.product(((128, 256), (64, 128), (128, 64), (64, 192)), (False, True))]
slim_forms += [((128, 256), {"SCALED": True, "ORDERED": True}),
               ((128, 256), {"SCALED": True, "ORDERED": True, "DIAG_FIRST": True}),
               ((64, 128), {"SCALED": True, "ORDERED": True, "DIAG_FIRST": True})]
for (N, Q), options in slim_forms:
    out[f"slim-{N}-{Q}" + "".join("-" + k.lower() for k, v in options.items() if v)] = aot.resource_usage(
        ssd_sm90_slim._chunk_scan_sm90_slim, {"y_ptr": "*bf16", "flag_ptr": "*i32", "ticket_ptr": "*i32"},
        {"Q": Q, "N": N, "HAS_D": True, "HAS_INIT": True, "I64": False, "R": ssd_sm90_slim.RING, **options},
        signature=ssd_sm90.descriptor_signature(N, slim=True), maxnreg=ssd_sm90_slim.MAX_REGISTERS,
        values=dict(L=2048, H=128, G=1, P=64, nchunks=2048 // Q, heads_per_group=128, n_pblocks=1,
                    s_y_b=2048 * 8192, s_y_l=8192, s_y_h=64))
from bambaprof.ssm.kernels import ssd_sm90_fused
for N, Q, diag_first in ((128, 256, False), (128, 256, True), (64, 128, False)):
    out[f"fused-{N}-{Q}" + ("-diag_first" if diag_first else "")] = aot.resource_usage(
        ssd_sm90_fused._chunk_scan_sm90_fused,
        {"y_ptr": "*bf16", "flag_ptr": "*i32", "count_ptr": "*i32", "cb_ptr": "*bf16", "dt_ptr": "*bf16"},
        {"Q": Q, "N": N, "HAS_D": True, "HAS_INIT": True, "I64": False, "R": ssd_sm90_slim.RING, "HAS_BIAS": True,
         "SOFTPLUS": True, "CLAMP": False, "DIAG_FIRST": diag_first},
        signature=ssd_sm90.descriptor_signature(N, slim=True), maxnreg=ssd_sm90_slim.MAX_REGISTERS,
        values=dict(L=2048, H=128, G=1, P=64, nchunks=2048 // Q, heads_per_group=128, n_pblocks=1,
                    s_y_b=2048 * 8192, s_y_l=8192, s_y_h=64, s_dt_b=2048 * 128, s_dt_l=128, s_dt_h=1))
from bambaprof.ssm.kernels import ssd_sm90_pair
for N, Q in ((128, 256), (64, 128), (128, 64)):
    out[f"pair-{N}-{Q}"] = aot.resource_usage(
        ssd_sm90_pair._chunk_scan_sm90_pair, {"y_ptr": "*bf16", "flag_ptr": "*i32", "ticket_ptr": "*i32"},
        {"Q": Q, "N": N, "HAS_D": True, "HAS_INIT": True, "I64": False, "R": ssd_sm90_pair.RING}, num_warps=8,
        signature=ssd_sm90.descriptor_signature(N, pair=True),
        values=dict(L=2048, H=128, G=1, nchunks=2048 // Q, heads_per_group=128, s_y_b=2048 * 8192, s_y_l=8192,
                    s_y_h=64))
out["stay-128-256"] = aot.resource_usage(
    ssd_sm90_slim._chunk_scan_sm90_stay, {"y_ptr": "*bf16", "flag_ptr": "*i32", "ticket_ptr": "*i32"},
    {"Q": 256, "N": 128, "HAS_D": True, "HAS_INIT": True, "I64": False, "R": ssd_sm90_slim.RING},
    signature=ssd_sm90.descriptor_signature(128, slim=True), maxnreg=ssd_sm90_slim.MAX_REGISTERS,
    values=dict(L=2048, H=128, G=1, P=64, nchunks=8, heads_per_group=128, n_pblocks=1, s_y_b=2048 * 8192,
                s_y_l=8192, s_y_h=64, tickets=1024))
from bambaprof.ssm.kernels import ssd_sm90_wide
for Q in (256, 128):
    out[f"wide-128-{Q}"] = aot.resource_usage(
        ssd_sm90_wide._chunk_scan_sm90_wide, {"y_ptr": "*bf16", "flag_ptr": "*i32", "ticket_ptr": "*i32"},
        {"Q": Q, "N": 128, "HAS_D": True, "HAS_INIT": True, "I64": False, "R": ssd_sm90_wide.RING}, num_warps=8,
        signature=ssd_sm90.descriptor_signature(128, wide=True), maxnreg=ssd_sm90_wide.MAX_REGISTERS,
        values=dict(L=2048, H=128, G=1, P=64, nchunks=2048 // Q, heads_per_group=128, n_pblocks=1,
                    s_y_b=2048 * 8192, s_y_l=8192, s_y_h=64))
print(json.dumps(out))
"""


def _gluon_available() -> bool:
    try:
        from triton.experimental.gluon.language.nvidia import hopper  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _ptxas_available() or not _gluon_available(), reason="needs Gluon and a bundled ptxas")
def test_the_hopper_chunk_scan_compiles_without_spills_two_programs_an_sm():
    """The Gluon scan (no interpreter runs it) compiles for sm_90 at Bamba's shapes, a smaller state and chunk,
    and a chunk of one tile: no spills, wgmma products, and at most 113 KB of shared memory, so that two programs fit
    an H200 SM (228 KB, 1 KB of it reserved per program); its ``gluon_slim`` kernel at most 168 registers and 75 KB,
    so that three fit, with ``gluon_scaled``'s outputs (and ``gluon_ordered``'s) the same products in the same
    shared memory, and fewer than 90 thread barriers at Bamba's shapes; its
    ``gluon_pair`` kernel (eight warps) at most 255 registers and 227 KB, one an SM, with the same number of products
    a warpgroup as the slim one (each warpgroup makes one head's); its ``gluon_wide`` kernel (eight warps) at most
    128 registers and 113 KB, two an SM, with 14 of the slim one's 26 products a warp."""
    env = dict(os.environ, TRITON_INTERPRET="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", HOPPER_SCAN], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    forms = json.loads(proc.stdout.splitlines()[-1])
    assert len([form for form in forms if form.startswith("pair-")]) == 3
    for form, usage in forms.items():
        assert usage["hgmma"] > 0, (form, usage)
        if form.startswith("pair-"):  # one program of 256 threads an SM, nothing spilled
            assert usage["stack_bytes"] == 0 and usage["shared_bytes"] <= 227 * 1024, (form, usage)
            assert usage["registers"] * 256 <= 65536 and usage["hgmma"] == forms["slim" + form[4:]]["hgmma"]
            continue
        if form.startswith("wide-"):  # two programs of 256 threads an SM, half the slim kernel's products a warp
            assert usage["registers"] <= 128 and usage["stack_bytes"] <= 64, (form, usage)  # none with Triton 3.6
            assert usage["shared_bytes"] <= 113 * 1024, (form, usage)
            # at a chunk of 256: 14 products a warpgroup against 26
            assert form != "wide-128-256" or usage["hgmma"] * 26 == forms["slim-128-256"]["hgmma"] * 14, (form, usage)
            continue
        if form.startswith("stay-"):  # resident slim programs: three an SM, the loop's values partly spilled
            assert usage["registers"] <= 168 and usage["shared_bytes"] <= 228 * 1024 // 3 - 1024, (form, usage)
            continue
        if form.startswith("fused-"):  # gluon_fused: the slim program's resources, and one tile's product more
            assert usage["registers"] <= 168 and usage["stack_bytes"] <= 64, (form, usage)
            assert usage["shared_bytes"] <= 228 * 1024 // 3 - 1024, (form, usage)
            n, q = form.split("-")[1:3]
            base = forms[f"slim-{n}-{q}-scaled" + ("-ordered-diag_first" if form.endswith("-diag_first") else "")]
            assert usage["hgmma"] == base["hgmma"] + 4 * int(n) // 64, (form, usage)  # C_m B_k^T: n / 16 wgmma
            continue
        if form.startswith("slim-"):  # three programs an SM: 168 registers, 74 KB; a few scalars spilled
            assert usage["registers"] <= 168 and usage["stack_bytes"] <= 64, (form, usage)
            assert usage["shared_bytes"] <= 228 * 1024 // 3 - 1024, (form, usage)
            # gluon_scaled's outputs (and gluon_ordered's): the same products, in the same shared memory;
            # gluon_diag_first's block 0 diagonal product in both of its places: one 64 x 64 x 64 product site more
            # (four wgmma of K 16)
            base = forms["-".join(form.split("-")[:3])]
            extra = 4 if form.endswith("-diag_first") else 0
            assert (usage["hgmma"], usage["shared_bytes"]) == (base["hgmma"] + extra, base["shared_bytes"]), (form, usage)
            # a tile and an mbarrier an allocation: one barrier a refill of the ring, not two (at Bamba's shapes 54 to
            # 56 with Triton 3.6, 79 to 81 with 3.9; 97 to 103 with the ring in one allocation)
            assert not form.startswith("slim-128-256") or usage["barriers"] < 90, (form, usage)
            continue
        assert usage["stack_bytes"] == 0 and usage["local_loads"] == 0, (form, usage)
        assert usage["shared_bytes"] <= 113 * 1024, (form, usage)
