"""GPU work as Kineto events: kernels (named as Kineto names them, through the C++ runtime's demangler),
copies and memsets, CUDA graphs recorded whole; and the devices' properties."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

from ..parse import Args, Event
from .export import Correlations, Export, int_or_none, times

if TYPE_CHECKING:
    from .nvtx import Operators


#: CUPTI's memcpy kinds (``CUpti_ActivityMemcpyKind``) and memory kinds (``CUpti_ActivityMemoryKind``), for
#: exports without the ``ENUM_`` tables that name them.
_COPY_KINDS = {1: "HtoD", 2: "DtoH", 3: "HtoA", 4: "AtoH", 5: "AtoA", 6: "AtoD", 7: "DtoA", 8: "DtoD", 9: "HtoH",
               10: "PtoP"}


_MEMORY_KINDS = {0: "Pageable", 1: "Pinned", 2: "Device", 3: "Array", 4: "Managed", 5: "Device Static",
                 6: "Managed Static"}


#: Longest mangled name handed to the C++ runtime's demangler (characters): real kernel names stay under a few
#: thousand; a longer one (a hostile export) keeps the export's own name rather than risk an old runtime's
#: recursion on it.
MAX_DEMANGLED = 32768


class _Demangler:
    """The C++ runtime's ``__cxa_demangle`` (libstdc++ or libc++) through ctypes, loaded on first use;
    :meth:`__call__` gives ``None`` where the runtime is missing or the name is not a mangled one."""

    def __init__(self) -> None:
        self._fn: Any = None
        self._free: Any = None
        self._loaded = False

    def _load(self) -> None:
        import ctypes
        import ctypes.util

        self._loaded = True
        for lib in ("stdc++", "c++", "c++abi"):
            path = ctypes.util.find_library(lib)
            try:
                handle = ctypes.CDLL(path) if path else None
                # getattr: spelled out in a class body, the name would be mangled to _Demangler__cxa_demangle
                fn = getattr(handle, "__cxa_demangle") if handle is not None else None  # noqa: B009
                free = ctypes.CDLL(None).free
            except (OSError, AttributeError, TypeError):  # TypeError: no CDLL(None) (Windows)
                continue
            if fn is None:
                continue
            fn.restype = ctypes.c_void_p
            fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
            free.argtypes = [ctypes.c_void_p]
            self._fn, self._free = fn, free
            return

    def __call__(self, mangled: str) -> Optional[str]:
        if not mangled.startswith("_Z") or len(mangled) > MAX_DEMANGLED:
            return None
        if not self._loaded:
            self._load()
        if self._fn is None:
            return None
        import ctypes

        status = ctypes.c_int(0)
        try:
            text = self._fn(mangled.encode(), None, None, ctypes.byref(status))
        except UnicodeEncodeError:
            return None
        if status.value != 0 or not text:
            return None
        try:
            return ctypes.string_at(text).decode("utf-8", "replace")
        finally:
            self._free(text)


demangle = _Demangler()


def linked(corr: Correlations, ops: "Operators", r: Dict[str, Any]) -> Dict[str, Any]:
    """A GPU activity's correlation id and the ``External id`` of the operator that launched it (if known)."""
    correlation = corr(r["correlationId"], r["globalPid"])
    return {"correlation": correlation,
            "external_id": ops.launched.get(correlation) if correlation is not None else None}


def kernels(ex: Export, corr: Correlations, ops: "Operators") -> Iterator[Event]:
    cols = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "demangledName", "shortName",
            "mangledName",
            "gridX", "gridY", "gridZ", "blockX", "blockY", "blockZ", "registersPerThread", "staticSharedMemory",
            "dynamicSharedMemory")
    names: Dict[Any, str] = {}
    for r in ex.rows("CUPTI_ACTIVITY_KIND_KERNEL", cols):
        ts, dur = times(r["start"], r["end"])
        key = (r["mangledName"], r["demangledName"], r["shortName"])
        name = names.get(key)
        if name is None:
            name = names[key] = kernel_name(ex, *key)
        static, dynamic = int_or_none(r["staticSharedMemory"]), int_or_none(r["dynamicSharedMemory"])
        grid = [r["gridX"], r["gridY"], r["gridZ"]]
        block = [r["blockX"], r["blockY"], r["blockZ"]]
        yield Event(ph="X", cat="kernel", name=name, pid=r["deviceId"], tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=int_or_none(r["deviceId"]), stream=int_or_none(r["streamId"]),
                              **linked(corr, ops, r),
                              grid=grid if None not in grid else None, block=block if None not in block else None,
                              registers=int_or_none(r["registersPerThread"]),
                              shared_memory=None if static is None and dynamic is None
                              else (static or 0) + (dynamic or 0)))


def kernel_name(ex: Export, mangled_id: Any, demangled_id: Any, short_id: Any) -> str:
    """Kineto's name for a kernel: its mangled name demangled by the C++ runtime, or as it is when it is not
    a mangled C++ name (``sm80_xmma_gemm_...``, Triton's kernels); else the export's own names."""
    mangled = ex.string(mangled_id)
    if mangled:
        ours = demangle(mangled)
        if ours is not None:
            return ours
        if not mangled.startswith("_Z"):
            return mangled
    return ex.string(demangled_id) or ex.string(short_id) or mangled or ""


def copy_kind(name: str) -> str:
    """``CUDA_MEMCPY_KIND_DTOH`` -> ``DtoH`` (Kineto's spelling)."""
    last = name.rsplit("_", 1)[-1]
    return last.replace("TO", "to") if "TO" in last else last.capitalize()


def copies_and_sets(ex: Export, corr: Correlations, ops: "Operators") -> Iterator[Event]:
    copy_names = {i: copy_kind(n) for i, n in ex.enum("ENUM_CUDA_MEMCPY_OPER", "name").items()} or _COPY_KINDS
    memory = ex.enum("ENUM_CUDA_MEM_KIND", "label") or _MEMORY_KINDS
    cols: Tuple[str, ...] = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "bytes",
                             "copyKind", "srcKind", "dstKind")
    for r in ex.rows("CUPTI_ACTIVITY_KIND_MEMCPY", cols):
        ts, dur = times(r["start"], r["end"])
        kind = copy_names.get(r["copyKind"], "Unknown")
        src, dst = memory.get(r["srcKind"], "Unknown"), memory.get(r["dstKind"], "Unknown")
        yield Event(ph="X", cat="gpu_memcpy", name=f"Memcpy {kind} ({src} -> {dst})", pid=r["deviceId"],
                    tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=int_or_none(r["deviceId"]), stream=int_or_none(r["streamId"]),
                              **linked(corr, ops, r),
                              bytes=float(r["bytes"]) if isinstance(r["bytes"], (int, float)) else None))
    cols = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "bytes", "memKind")
    for r in ex.rows("CUPTI_ACTIVITY_KIND_MEMSET", cols):
        ts, dur = times(r["start"], r["end"])
        yield Event(ph="X", cat="gpu_memset", name=f"Memset ({memory.get(r['memKind'], 'Unknown')})",
                    pid=r["deviceId"], tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=int_or_none(r["deviceId"]), stream=int_or_none(r["streamId"]),
                              **linked(corr, ops, r),
                              bytes=float(r["bytes"]) if isinstance(r["bytes"], (int, float)) else None))


def whole_graphs(ex: Export, corr: Correlations, ops: "Operators") -> Iterator[Event]:
    cols = ("start", "end", "deviceId", "streamId", "correlationId", "globalPid", "graphId")
    for r in ex.rows("CUPTI_ACTIVITY_KIND_GRAPH_TRACE", cols):
        ts, dur = times(r["start"], r["end"])
        yield Event(ph="X", cat="kernel", name=f"CUDA graph {r['graphId']}, recorded whole", pid=r["deviceId"],
                    tid=r["streamId"], ts=ts, dur=dur,
                    args=Args(device=int_or_none(r["deviceId"]), stream=int_or_none(r["streamId"]),
                              **linked(corr, ops, r)))


def device_properties(ex: Export) -> List[Dict[str, Any]]:
    """``TARGET_INFO_GPU`` as Kineto's ``deviceProperties`` (keyed by the CUDA device index)."""
    cols = ("id", "cuDevice", "name", "totalMemory", "computeMajor", "computeMinor", "maxThreadsPerBlock",
            "maxWarpsPerSm", "threadsPerWarp", "maxRegistersPerBlock", "maxRegistersPerSm", "maxShmemPerBlock",
            "maxShmemPerBlockOptin", "maxShmemPerSm", "smCount", "memoryBandwidth")
    out = []
    for r in ex.rows("TARGET_INFO_GPU", cols):
        warps, warp = int_or_none(r["maxWarpsPerSm"]), int_or_none(r["threadsPerWarp"])
        props = {
            "id": r["cuDevice"] if int_or_none(r["cuDevice"]) is not None else r["id"], "name": r["name"],
            "totalGlobalMem": r["totalMemory"], "computeMajor": r["computeMajor"], "computeMinor": r["computeMinor"],
            "maxThreadsPerBlock": r["maxThreadsPerBlock"],
            "maxThreadsPerMultiprocessor": warps * warp if warps is not None and warp is not None else None,
            "regsPerBlock": r["maxRegistersPerBlock"], "regsPerMultiprocessor": r["maxRegistersPerSm"],
            "warpSize": warp, "sharedMemPerBlock": r["maxShmemPerBlock"],
            "sharedMemPerBlockOptin": r["maxShmemPerBlockOptin"], "sharedMemPerMultiprocessor": r["maxShmemPerSm"],
            "numSms": r["smCount"],
            # Nsight's figure for the device's DRAM bandwidth (bytes/s: bus width x memory clock), as GB/s
            "nsysPeakBandwidthGbps": r["memoryBandwidth"] / 1e9 if isinstance(r["memoryBandwidth"], (int, float))
            and r["memoryBandwidth"] > 0 else None,
        }
        out.append({k: v for k, v in props.items() if v is not None})
    return out
