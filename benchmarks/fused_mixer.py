"""The ``triton`` mixer with its fused conv1d + SiLU and gated RMSNorm kernels against the same mixer with
torch's conv and norm (``mixer.fused = False``), side by side in one process on a GPU.

Bamba-9B mixer shapes (hidden 4096, 128 heads x 64, state 128, 1 group, chunk 256), bf16, eager. For each
shape and side: the median wall time of a forward (``triton.testing.do_bench``, CUDA events), the GPU kernel
time per forward from the PyTorch profiler's trace as ``bambaprof analyze`` reads it (kernel time over 20
forwards / 20), and the kernel time of the conv and gated-norm phases. Outputs are checked against each other first.

    python benchmarks/fused_mixer.py OUT.json
"""

from __future__ import annotations

import datetime
import json
import platform
import sys

import torch
import triton
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, ".")
from bambaprof.model import build_mixer  # noqa: E402
from bambaprof.model.config import BambaConfig  # noqa: E402

SHAPES = [(1, 512), (1, 2048), (1, 8192), (8, 2048)]
REPS = 20


def config() -> BambaConfig:
    return BambaConfig(vocab_size=16, hidden_size=4096, intermediate_size=4096, num_hidden_layers=1,
                       num_attention_heads=1, num_key_value_heads=1, attn_layer_indices=(), mamba_n_heads=128,
                       mamba_d_head=64, mamba_n_groups=1, mamba_d_state=128, mamba_chunk_size=256, mamba_expand=2,
                       dtype="bfloat16", partial_rotary_factor=0.0)


def kernel_us(fn) -> dict:
    """GPU kernel time per call (us), in total and under the conv and gated_norm ranges, as ``bambaprof
    analyze`` reads the profiler's trace (summing the profiler's CUDA events would count the GPU copies of the
    ranges too)."""
    import tempfile

    from bambaprof import analyze

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=True) as prof:
        for _ in range(REPS):
            fn()
        torch.cuda.synchronize()
    path = tempfile.mkdtemp() + "/trace.json"
    prof.export_chrome_trace(path)
    a = analyze(path)
    out = {"kernel_us": a.summary["kernel_us"] / REPS}
    for name in ("conv", "gated_norm"):
        out[f"{name}_us"] = sum(p["gpu_us"] for p in a.phase_kinds if p["phase"].split("/")[0] == name) / REPS
    return out


def measure(mixer, x) -> dict:
    row = {}
    with torch.no_grad():
        mixer.fused = True
        fused_out = mixer(x)
        mixer.fused = False
        ref_out = mixer(x)
        row["max_abs_diff"] = float((fused_out.float() - ref_out.float()).abs().max())
        row["ref_max_abs"] = float(ref_out.float().abs().max())
        for side in ("unfused", "fused", "unfused_again", "fused_again"):
            mixer.fused = side.startswith("fused")
            row[f"{side}_wall_ms"] = triton.testing.do_bench(lambda: mixer(x), warmup=50, rep=300,
                                                             return_mode="median")
            if not side.endswith("again"):
                row.update({f"{side}_{k}": v for k, v in kernel_us(lambda: mixer(x)).items()})
    row["wall_ratio"] = row["fused_wall_ms"] / row["unfused_wall_ms"]
    row["kernel_ratio"] = row["fused_kernel_us"] / row["unfused_kernel_us"]
    return row


def main(out: str) -> int:
    torch.manual_seed(0)
    rows = []
    mixer = build_mixer(config(), "triton", seed=0, device="cuda")
    assert mixer.fused
    for b, L in SHAPES:
        x = torch.randn(b, L, 4096, device="cuda", dtype=torch.bfloat16)
        row = {"batch": b, "seq_len": L, **measure(mixer, x)}
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
        rows.append(row)
    result = {
        "what": "triton mixer, fused conv1d+SiLU and gated RMSNorm vs torch conv and norm, bf16 eager, "
                "Bamba-9B mixer shapes; wall: do_bench median (ms); kernel: profiler kernel time per forward (us)",
        "device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
        "cuda": torch.version.cuda, "python": platform.python_version(), "date": datetime.date.today().isoformat(),
        "rows": rows,
    }
    with open(out, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
