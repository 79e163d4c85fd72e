"""A small synthetic Kineto trace whose metrics are computed by hand.

Timeline (us):

    ops      outer [0, 120) contains mm [0, 20), add [22, 32), copy_ [50, 110)
    runtime  cudaLaunchKernel [5, 10) c10 ; cuLaunchKernel [25, 28) c11 ; cuLaunchKernelEx [26, 28) c13
             cudaMemcpyAsync [100, 105) c12
    GPU 0    gemm_kernel [30, 40) s7 c10 ; triton_poi_fused_add_0 [40, 45) s7 c11 ;
             triton_poi_fused_add_1 [32, 38) s8 c13 (overlaps) ; memcpy [106, 110) s7 c12, 4096 bytes (DtoD: 8192 of DRAM traffic)

Hand-computed: busy = [30, 45) + [106, 110) = 19; window = 80; idle = 61, of which
host wait = 100 - 45 = 55 (the memcpy's call began 55 us after the GPU went idle),
other = 6. Launch overheads 25, 15, 6; only the gemm's (25) is a cost of launching (it ends an idle gap
whose start its launch call followed; add_0 queued behind it, add_1 started during busy time). mm bytes
64*128*2 + 128*256*2 + 64*256*2 = 114688 (10 us: 11.4688 GB/s), FLOPs 2*64*256*128.
add bytes 3 * 1000 * 4 = 12000 (5 us: 2.4 GB/s).
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

H200 = {
    "id": 0, "name": "NVIDIA H200", "totalGlobalMem": 150109880320, "computeMajor": 9, "computeMinor": 0,
    "maxThreadsPerBlock": 1024, "maxThreadsPerMultiprocessor": 2048, "regsPerBlock": 65536, "warpSize": 32,
    "sharedMemPerBlock": 49152, "numSms": 132, "regsPerMultiprocessor": 65536, "sharedMemPerBlockOptin": 232448,
    "sharedMemPerMultiprocessor": 233472,
}


def _op(name, ts, dur, ext, dims=None, types=None, cat="cpu_op", **extra):
    args = {"External id": ext}
    if dims is not None:
        args.update({"Input Dims": dims, "Input type": types, "Concrete Inputs": [""] * len(dims)})
    args.update(extra)
    return {"ph": "X", "cat": cat, "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur, "args": args}


def _rt(name, ts, dur, corr, ext=-1):
    return {"ph": "X", "cat": "cuda_runtime", "name": name, "pid": 1, "tid": 1, "ts": ts, "dur": dur,
            "args": {"correlation": corr, "External id": ext, "cbid": 211}}


def _kernel(name, ts, dur, corr, ext, stream=7, device=0, grid=(1, 1, 1), block=(128, 1, 1), regs=32, smem=0, occ=50):
    return {"ph": "X", "cat": "kernel", "name": name, "pid": device, "tid": stream, "ts": ts, "dur": dur,
            "args": {"External id": ext, "device": device, "stream": stream, "correlation": corr,
                     "registers per thread": regs, "shared memory": smem, "grid": list(grid),
                     "block": list(block), "est. achieved occupancy %": occ}}


def base_trace() -> dict:
    events = [
        _op("outer", 0, 120, 100, cat="user_annotation"),
        _op("aten::mm", 0, 20, 1, [[64, 128], [128, 256]], ["c10::BFloat16", "c10::BFloat16"]),
        _op("aten::add", 22, 10, 2, [[1000], [1000], []], ["float", "float", "Scalar"]),
        _op("aten::copy_", 50, 60, 3, [[1024], [1024], []], ["float", "float", ""]),
        _rt("cudaLaunchKernel", 5, 5, 10, 1),
        _rt("cuLaunchKernel", 25, 3, 11, 2),
        _rt("cuLaunchKernelEx", 26, 2, 13),
        _rt("cudaMemcpyAsync", 100, 5, 12, 3),
        _kernel("gemm_kernel", 30, 10, 10, 1, grid=(2, 66, 1), block=(384, 1, 1), regs=168, smem=213188, occ=0),
        _kernel("triton_poi_fused_add_0", 40, 5, 11, 2, grid=(8, 1, 1)),
        _kernel("triton_poi_fused_add_1", 32, 6, 13, -1, stream=8, grid=(8, 1, 1)),
        {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy DtoD (Device -> Device)", "pid": 0, "tid": 7, "ts": 106,
         "dur": 4, "args": {"External id": 3, "device": 0, "stream": 7, "correlation": 12, "bytes": 4096}},
        {"ph": "i", "cat": "cpu_instant_event", "s": "t", "name": "[memory]", "pid": 1, "tid": 1, "ts": 1,
         "args": {"Total Reserved": 4096, "Total Allocated": 1000, "Bytes": 1000, "Device Id": 0, "Device Type": 1}},
        {"ph": "i", "cat": "cpu_instant_event", "s": "t", "name": "[memory]", "pid": 1, "tid": 1, "ts": 60,
         "args": {"Total Reserved": 8192, "Total Allocated": 3000, "Bytes": 2000, "Device Id": 0, "Device Type": 1}},
        {"ph": "s", "id": 10, "pid": 1, "tid": 1, "ts": 5, "cat": "ac2g", "name": "ac2g"},
        {"ph": "f", "id": 10, "pid": 0, "tid": 7, "ts": 30, "cat": "ac2g", "name": "ac2g", "bp": "e"},
        {"ph": "M", "name": "process_name", "pid": 0, "args": {"name": "GPU 0"}},
    ]
    return {"schemaVersion": 1, "deviceProperties": [copy.deepcopy(H200)], "displayTimeUnit": "ms",
            "traceEvents": events}


def legacy(trace: dict) -> dict:
    """Old Kineto: computeProperties, capitalised categories, integer ts, no args.correlation
    on GPU events (flows ``async_cpu_to_gpu`` link them instead)."""
    t = copy.deepcopy(trace)
    t["computeProperties"] = t.pop("deviceProperties")
    cats = {"cpu_op": "Operator", "kernel": "Kernel", "cuda_runtime": "Runtime", "gpu_memcpy": "Memcpy"}
    flows = []
    for e in t["traceEvents"]:
        if e.get("cat") in cats:
            e["cat"] = cats[e["cat"]]
        if isinstance(e.get("ts"), (int, float)):
            e["ts"] = int(e["ts"])
        if e.get("cat") in ("Kernel", "Memcpy"):
            corr = e["args"].pop("correlation")
            flows.append({"ph": "f", "id": corr, "pid": e["pid"], "tid": e["tid"], "ts": e["ts"],
                          "cat": "async_cpu_to_gpu", "name": "async_cpu_to_gpu", "bp": "e"})
        if e.get("cat") == "Runtime":
            corr = e["args"].pop("correlation")
            flows.append({"ph": "s", "id": corr, "pid": e["pid"], "tid": e["tid"], "ts": e["ts"],
                          "cat": "async_cpu_to_gpu", "name": "async_cpu_to_gpu"})
    t["traceEvents"] = [e for e in t["traceEvents"] if e.get("cat") != "ac2g"] + flows
    return t


def write(path: Path, obj, gz: bool = True) -> Path:
    data = json.dumps(obj).encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path
