"""Why the eager decode token's time moves between runs: one process, many tokens, the host watched.

The ``triton`` variant's eager token (bamba-9b, 4 layers, no attention, bf16, batch 1, after a 2048-token
prefill) is host-bound: the GPU waits for Python to issue the next kernel. Runs of the ``generate`` workload
on one machine gave medians of 0.98 and 2.34 ms a token back to back. This script decodes tokens without
synchronising (as ``generate`` does: the argmax stays on the GPU) in blocks, and records for every token:

- ``host_us``: Python's time to issue it (``perf_counter`` around the forward and the argmax);
- ``gpu_us``: the time between the CUDA events recorded after consecutive tokens (what ``generate``'s
  inter-token figure measures);
- the CPU the process ran on when the token started (``sched_getcpu``), so migrations can be counted;
- garbage collections that ran during the token (``gc.callbacks``);

and for every block: the CPU time the hypervisor gave to others while this machine's CPUs wanted it
(``steal`` in ``/proc/stat``, over all CPUs and on the CPUs the block ran on, in ms), the time this process
waited on a run queue (``/proc/self/schedstat``, ms), and its context switches (``getrusage``).

Blocks alternate three conditions, ``ROUNDS`` times each: ``free`` (as the workload runs), ``pinned`` (the
process bound to the CPU it was on), ``gc_off`` (``gc.disable()`` for the block). Before each block a fixed
pure-Python loop is timed (``probe_us``: the host's own speed at that moment, independent of bambaprof), and
each CPU's current frequency is read where sysfs exposes it. If the slow stretches are the host's, the probe
slows with them and the conditions do not matter.

    python benchmarks/decode_host_jitter.py OUT.json
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import resource
import statistics
import sys
import time
from typing import Dict, List, Optional

import torch

sys.path.insert(0, ".")
from bambaprof._env import environment  # noqa: E402
from bambaprof.model import build_model, preset  # noqa: E402

PREFILL = 2048
TOKENS = int(os.environ.get("JITTER_TOKENS", "200"))  # a block
ROUNDS = int(os.environ.get("JITTER_ROUNDS", "5"))
CONDITIONS = ("free", "pinned", "gc_off")

_libc = ctypes.CDLL(None, use_errno=True)


def current_cpu() -> int:
    return int(_libc.sched_getcpu())


def cpu_mhz(cpu: int) -> Optional[float]:
    try:
        with open(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq") as fh:
            return int(fh.read()) / 1e3
    except OSError:
        return None


def steal_ms() -> Dict[str, float]:
    """Steal time so far (ms) from ``/proc/stat``: ``all`` and per CPU (``cpu3``); empty where it is not there."""
    out: Dict[str, float] = {}
    tick_ms = 1e3 / os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if not line.startswith("cpu"):
                    break
                fields = line.split()
                if len(fields) > 8:
                    out["all" if fields[0] == "cpu" else fields[0]] = int(fields[8]) * tick_ms
    except OSError:
        pass
    return out


def run_queue_ms() -> Optional[float]:
    """This process's time waiting on a run queue so far (ms; ``/proc/self/schedstat``'s second field)."""
    try:
        with open("/proc/self/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


def probe_us() -> float:
    """A fixed pure-Python loop (dict and attribute work, like a forward's host side): its median time of 5."""
    times = []
    for _ in range(5):
        t = time.perf_counter_ns()
        d: Dict[int, int] = {}
        for i in range(20000):
            d[i & 255] = d.get(i & 255, 0) + i
        times.append((time.perf_counter_ns() - t) / 1e3)
    return statistics.median(times)


class GcCounter:
    def __init__(self) -> None:
        self.count = 0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.count += 1


def block(model, cache, nxt, condition: str, gcs: GcCounter) -> tuple:
    allowed = os.sched_getaffinity(0)
    if condition == "pinned":
        os.sched_setaffinity(0, {current_cpu()})
    if condition == "gc_off":
        gc.disable()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(TOKENS + 1)]
    host, cpus, collections = [], [], []
    try:
        torch.cuda.synchronize()
        events[0].record()
        for i in range(TOKENS):
            cpus.append(current_cpu())
            before = gcs.count
            t = time.perf_counter_ns()
            nxt = model(nxt, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
            host.append((time.perf_counter_ns() - t) / 1e3)
            events[i + 1].record()
            collections.append(gcs.count - before)
        torch.cuda.synchronize()
    finally:
        gc.enable()
        os.sched_setaffinity(0, allowed)
    gpu = [events[i].elapsed_time(events[i + 1]) * 1e3 for i in range(TOKENS)]
    return nxt, host, gpu, cpus, collections


def summary(values: List[float]) -> dict:
    q = statistics.quantiles(values, n=10)
    return {"median": statistics.median(values), "p10": q[0], "p90": q[-1]}


def main(out_path: str) -> int:
    cfg = preset("bamba-9b", layers=4, attention=False, dtype="bfloat16")
    model = build_model(cfg, "triton", seed=0, device="cuda")
    ids = torch.randint(0, cfg.vocab_size, (1, PREFILL), device="cuda")
    gcs = GcCounter()
    result: dict = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"),
                    "shape": f"bamba-9b, 4 layers, no attention, bf16, batch 1, {PREFILL}-token prefill, "
                             f"{TOKENS} tokens a block, {ROUNDS} rounds of {', '.join(CONDITIONS)}",
                    "host": {"cpus_allowed": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
                             "loadavg_start": os.getloadavg(),
                             "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
                             "cpu_model": _cpu_model()},
                    "blocks": []}
    with torch.no_grad():
        cache = model.new_cache()
        nxt = model(ids, cache=cache, last_logits_only=True)[:, -1].argmax(-1, keepdim=True)
        nxt, *_ = block(model, cache, nxt, "free", gcs)  # warm-up: kernels, allocator
        for r in range(ROUNDS):
            for condition in CONDITIONS:
                probe = probe_us()
                mhz = [cpu_mhz(c) for c in sorted(os.sched_getaffinity(0))]
                steal0, queue0, usage0 = steal_ms(), run_queue_ms(), resource.getrusage(resource.RUSAGE_SELF)
                nxt, host, gpu, cpus, collections = block(model, cache, nxt, condition, gcs)
                steal1, queue1, usage1 = steal_ms(), run_queue_ms(), resource.getrusage(resource.RUSAGE_SELF)
                probe_after = probe_us()
                known = [m for m in mhz if m is not None]
                used = {f"cpu{c}" for c in cpus}
                row = {"round": r, "condition": condition, "probe_us": probe, "probe_after_us": probe_after,
                       "steal_ms_all_cpus": steal1.get("all", 0.0) - steal0.get("all", 0.0) if steal0 else None,
                       "steal_ms_cpus_used": sum(steal1.get(c, 0.0) - steal0.get(c, 0.0) for c in used)
                       if steal0 else None,
                       "block_ms": sum(gpu) / 1e3,
                       "run_queue_ms": queue1 - queue0 if queue0 is not None and queue1 is not None else None,
                       "context_switches": {"voluntary": usage1.ru_nvcsw - usage0.ru_nvcsw,
                                            "involuntary": usage1.ru_nivcsw - usage0.ru_nivcsw},
                       "mhz_median": statistics.median(known) if known else None,
                       "host_us": summary(host), "gpu_us": summary(gpu[1:]),
                       "migrations": sum(a != b for a, b in zip(cpus, cpus[1:])), "cpus_used": len(set(cpus)),
                       "gc_collections": sum(collections),
                       "host_us_tokens": [round(v, 1) for v in host], "gpu_us_tokens": [round(v, 1) for v in gpu]}
                result["blocks"].append(row)
                print(f"round {r} {condition:7s} probe {probe:7.0f} us  host median {row['host_us']['median']:7.0f} "
                      f"p90 {row['host_us']['p90']:7.0f} us  gpu median {row['gpu_us']['median']:7.0f} p90 "
                      f"{row['gpu_us']['p90']:7.0f} us  migrations {row['migrations']:3d} on {row['cpus_used']} cpus  "
                      f"gc {row['gc_collections']}  steal {row['steal_ms_cpus_used']} of {row['block_ms']:.0f} ms "
                      f"(all cpus {row['steal_ms_all_cpus']})  queue {row['run_queue_ms']} ms  "
                      f"switches {row['context_switches']}", flush=True)
    result["host"]["loadavg_end"] = os.getloadavg()
    by = {c: [b for b in result["blocks"] if b["condition"] == c] for c in CONDITIONS}
    result["by_condition"] = {c: {"host_us_median_of_blocks": statistics.median(b["host_us"]["median"] for b in rows),
                                  "gpu_us_median_of_blocks": statistics.median(b["gpu_us"]["median"] for b in rows),
                                  "blocks_gpu_us_medians": [round(b["gpu_us"]["median"], 1) for b in rows]}
                              for c, rows in by.items()}
    gpus = [b["gpu_us"]["median"] for b in result["blocks"]]
    result["correlation_with_gpu_us_median"] = {}
    for name in ("probe_us", "probe_after_us", "steal_ms_cpus_used", "run_queue_ms"):
        xs = [b[name] for b in result["blocks"]]
        if all(x is not None for x in xs) and len(set(xs)) > 1:
            result["correlation_with_gpu_us_median"][name] = statistics.correlation(xs, gpus)
    print(json.dumps({k: result[k] for k in ("host", "by_condition", "correlation_with_gpu_us_median")}, indent=1))
    with open(out_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
