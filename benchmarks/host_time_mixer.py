"""Where the host time of the ``triton`` mixer's eager forward goes (GPU machine).

At small shapes the eager mixer is launch-bound: ``triton.testing.do_bench`` times the host's enqueue of the
call, not the kernels. For one Bamba-9B mixer (bf16) this prints, per shape:

- ``do_bench`` median (ms) and the profiler's GPU kernel time (ms);
- host time per call (us): the wall time of 200 calls enqueued back to back without a sync, / 200
  (the GPU keeps up, so this is the host's cost), for the whole forward and for each of its steps;
- the host cost of launching an empty Triton kernel with 30 arguments (us);
- the top functions of a cProfile of 300 forwards, by own time;
- the forward's host time and ``do_bench`` median with the launch shortcut of
  :mod:`bambaprof.ssm.kernels.launch` off, ``kept`` (kept kernels through Triton's launcher) and on (its C
  function called directly), side by side (3 interleaved rounds);
- with ``--decode``: cached decoding of bamba-9b (4 layers, no attention, bf16, batch 1, a 2048-token prefill,
  16 tokens, each timed with a synchronisation around it; 3 interleaved rounds, the first 2 tokens of each
  dropped), median ms per token, in each mode of the shortcut.

    python benchmarks/host_time_mixer.py [--shape 1x512 --shape 1x2048] [-o host-time.json]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import time
from typing import Any, Callable, Dict, Iterator, Optional

import torch
import triton
import triton.language as tl


@triton.jit
def _empty(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19,
           a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, K: tl.constexpr):
    pass


def host_us(fn: Callable[[], Any], calls: int = 200) -> float:
    """Host time per call (us) of ``calls`` back-to-back calls, the median of 5 repeats."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t) / calls * 1e6)
        torch.cuda.synchronize()
    return sorted(out)[2]


def mixer_steps(mixer: Any, hidden: torch.Tensor) -> Dict[str, Callable[[], Any]]:
    """The forward's steps as separate calls on the intermediate tensors of one forward."""
    from bambaprof.ssm.kernels import mixer as fused
    from bambaprof.ssm.kernels.ssd import ssd_forward

    b, L, _ = hidden.shape
    proj = mixer.in_proj(hidden)
    gate, xBC, dt = proj.split([mixer.intermediate, mixer.conv_dim, mixer.n_heads], dim=-1)
    A = -torch.exp(mixer.A_log.float())
    conv = fused.conv1d_silu(xBC, mixer.conv1d.weight, mixer.conv1d.bias)
    x, B, C = mixer._split_xbc(conv)
    y, _ = ssd_forward(x, dt, A, B, C, mixer.chunk_size, D=mixer.D, dt_bias=mixer.dt_bias, dt_softplus=True,
                       dt_limit=mixer.dt_limit)
    normed = fused.gated_rmsnorm(y.reshape(b, L, mixer.intermediate), gate, mixer.norm.weight, mixer.norm.eps,
                                 hidden.dtype)
    return {
        "forward": lambda: mixer(hidden),
        "in_proj": lambda: mixer.in_proj(hidden),
        "split": lambda: proj.split([mixer.intermediate, mixer.conv_dim, mixer.n_heads], dim=-1),
        "A=-exp(A_log)": lambda: -torch.exp(mixer.A_log.float()),
        "conv1d_silu": lambda: fused.conv1d_silu(xBC, mixer.conv1d.weight, mixer.conv1d.bias),
        "split_xbc": lambda: mixer._split_xbc(conv),
        "variant(...)": lambda: mixer.variant(x, dt, A, B, C, mixer.chunk_size, D=mixer.D, dt_bias=mixer.dt_bias,
                                              dt_softplus=True, dt_limit=mixer.dt_limit),
        "ssd_forward": lambda: ssd_forward(x, dt, A, B, C, mixer.chunk_size, D=mixer.D, dt_bias=mixer.dt_bias,
                                           dt_softplus=True, dt_limit=mixer.dt_limit),
        "gated_rmsnorm": lambda: fused.gated_rmsnorm(y.reshape(b, L, mixer.intermediate), gate, mixer.norm.weight,
                                                     mixer.norm.eps, hidden.dtype),
        "out_proj": lambda: mixer.out_proj(normed),
        "torch.empty": lambda: torch.empty(b, L, mixer.intermediate, device="cuda", dtype=hidden.dtype),
    }


@contextlib.contextmanager
def launch_shortcut(mode: str) -> Iterator[None]:
    """The launch shortcut in ``mode`` (one of :data:`MODES`) for the kernels launched inside (each kernel's
    wrapper is made anew), and the switch as it was afterwards."""
    from bambaprof.ssm.kernels import launch

    before = os.environ.get("BAMBAPROF_TRITON_FAST_LAUNCH")
    os.environ["BAMBAPROF_TRITON_FAST_LAUNCH"] = {"on": "1", "keyed": "keyed", "kept": "kept", "off": "0"}[mode]
    launch._wrapped.clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("BAMBAPROF_TRITON_FAST_LAUNCH")
        else:
            os.environ["BAMBAPROF_TRITON_FAST_LAUNCH"] = before
        launch._wrapped.clear()


#: The launch shortcut's modes, compared side by side (``keyed``: the C function called for each launch, no whole
#: forwards kept; ``on``: and the SSD core's repeated forwards launched whole).
MODES = ("off", "kept", "keyed", "on")


def write_result(path: Optional[str], result: Dict[str, Any]) -> int:
    """``result`` as indented JSON at ``path`` where one is given (a script's ``-o``); 0, the script's exit status."""
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


def _round_order(r: int) -> tuple:
    return MODES if r % 2 == 0 else MODES[::-1]


def shortcut_on_off(mixer: Any, hidden: torch.Tensor, rounds: int = 3) -> Dict[str, Dict[str, float]]:
    """Host time (us) and ``do_bench`` median (ms) of the forward in each mode of the launch shortcut,
    the median of ``rounds`` interleaved rounds."""
    import statistics

    from bambaprof.bench.ssd import median_ms

    got: Dict[str, Dict[str, list]] = {m: {"host_us": [], "do_bench_ms": []} for m in MODES}
    with torch.no_grad():
        for r in range(rounds):
            for mode in _round_order(r):
                with launch_shortcut(mode):
                    got[mode]["host_us"].append(host_us(lambda: mixer(hidden)))
                    got[mode]["do_bench_ms"].append(median_ms(lambda: mixer(hidden), "cuda"))
    return {m: {k: statistics.median(v) for k, v in d.items()} for m, d in got.items()}


def decode_on_off(rounds: int = 3) -> Dict[str, float]:
    """Median ms per cached decode token of bamba-9b (4 layers, no attention) in each mode of the launch
    shortcut."""
    import statistics

    from fused_decode import decode_ms  # benchmarks/ is this script's folder

    from bambaprof.model import build_model, preset

    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, 2048), device="cuda")
    got: Dict[str, list] = {m: [] for m in MODES}
    with torch.no_grad():
        for r in range(rounds + 1):  # the first round warms up
            for mode in _round_order(r):
                with launch_shortcut(mode):
                    times, _copied = decode_ms(model, ids)  # a prefill, then fused_decode.TOKENS timed tokens
                if r:
                    got[mode] += times[2:]
    return {m: statistics.median(v) for m, v in got.items()}


def main() -> int:
    from bambaprof.bench.ssd import kernel_time, median_ms
    from bambaprof.model import build_mixer
    from bambaprof.model.config import BambaConfig

    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", action="append", default=None)
    parser.add_argument("--decode", action="store_true")
    parser.add_argument("-o", "--output", default=None)
    args = parser.parse_args()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    result: Dict[str, Any] = {"cpu": cpu, "python": platform.python_version(), "torch": torch.__version__,
                              "triton": triton.__version__, "device": torch.cuda.get_device_name(), "shapes": {}}
    print(f"cpu {cpu}; python {result['python']}; torch {torch.__version__}; triton {triton.__version__}")
    t = torch.empty(8, device="cuda")
    launch = lambda: _empty[(1,)](*([t] * 10 + list(range(20))), K=1)  # noqa: E731
    result["empty_triton_launch_us"] = host_us(launch, 500)
    print(f"empty Triton launch, 30 args: {result['empty_triton_launch_us']:.1f} us")
    cfg = BambaConfig(vocab_size=16, hidden_size=4096, intermediate_size=4096, num_hidden_layers=1,
                      num_attention_heads=1, num_key_value_heads=1, attn_layer_indices=(), mamba_n_heads=128,
                      mamba_d_head=64, mamba_n_groups=1, mamba_d_state=128, mamba_chunk_size=256, mamba_expand=2,
                      dtype="bfloat16", partial_rotary_factor=0.0)
    mixer = build_mixer(cfg, "triton", seed=0, device="cuda")
    for shape in args.shape or ["1x512", "1x2048"]:
        b, L = (int(v) for v in shape.lower().split("x"))
        hidden = torch.randn(b, L, 4096, device="cuda", dtype=torch.bfloat16)
        grad_on = host_us(lambda: mixer(hidden))  # noqa: B023 - as `bench ssd --mixer` calls it
        with torch.no_grad():
            row: Dict[str, Any] = {"host_us_forward_grad_on": grad_on,"do_bench_ms": median_ms(lambda: mixer(hidden), "cuda"),  # noqa: B023
                                   "kernel_ms": kernel_time(lambda: mixer(hidden)).ms}  # noqa: B023
            row["host_us"] = {name: host_us(fn) for name, fn in mixer_steps(mixer, hidden).items()}
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(300):
                mixer(hidden)
            prof.disable()
            torch.cuda.synchronize()
        print(f"\n{shape}: do_bench {row['do_bench_ms']:.3f} ms, kernel {row['kernel_ms']:.3f} ms; host us per call:")
        print(f"  {'forward, grad on':16s} {grad_on:8.1f}")
        for name, us in row["host_us"].items():
            print(f"  {name:16s} {us:8.1f}")
        stats = pstats.Stats(prof)
        top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:25]  # type: ignore[attr-defined]
        row["cprofile_top_own_us_per_forward"] = []
        print("  cProfile, own time per forward (us), calls per forward:")
        for (path, line, fn), (_cc, nc, tt, _ct, _callers) in top:
            where = f"{path.rsplit('/', 2)[-1] if '/' in path else path}:{line}:{fn}"
            row["cprofile_top_own_us_per_forward"].append([where, tt / 300 * 1e6, nc / 300])
            print(f"    {tt / 300 * 1e6:7.1f}  {nc / 300:5.1f}  {where}")
        row["launch_shortcut"] = shortcut_on_off(mixer, hidden)
        for mode, r in row["launch_shortcut"].items():
            print(f"  launch shortcut {mode:4s}: host {r['host_us']:7.1f} us, do_bench {r['do_bench_ms']:.3f} ms")
        result["shapes"][shape] = row
    if args.decode:
        del mixer
        result["decode_ms_per_token"] = decode_on_off()
        print("decode ms per token:", {k: round(v, 3) for k, v in result["decode_ms_per_token"].items()})
    return write_result(args.output, result)


if __name__ == "__main__":
    raise SystemExit(main())
