"""Bytes of any Triton kernel, recorded at its launch into the profiler trace.

Inductor's kernels carry ``kernel_num_gb`` and bambaprof's own carry exact byte and FLOP counts, but a Triton
kernel from elsewhere (mamba_ssm's, a user's) carries nothing, so its bandwidth would be unknown. While
:func:`recording_triton_launches` is active (``profile`` and ``record`` turn it on), every launch of a Triton
``@jit`` function while the profiler records is wrapped in a range ``triton::<kernel>`` whose args carry
``kernel_num_gb`` = the summed sizes of the launch's distinct tensor arguments / 1e9, and ``kernel_backend`` =
:data:`~bambaprof.analysis.traffic.LAUNCH_ARGS_BACKEND`, so ``analyze`` labels those bytes ``launch args``:
an upper bound of the compulsory traffic (every argument read or written once; a kernel may touch only part
of one), not a measurement of DRAM traffic.

The profiler exports a range's args only with ``record_shapes=True`` (``profile`` and ``record`` set it).
Launches that already carry exact metadata are left alone; outside profiling the hook costs one flag check
per launch. Inductor's kernels do not go through ``JITFunction.run`` and are not seen here.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch

from ..analysis.traffic import LAUNCH_ARGS_BACKEND
from ..ssm.kernels.metadata import _profiling, _RecordFunctionFast, exact_metadata

_lock = threading.Lock()
_depth = 0
_originals: List[Tuple[type, Callable[..., Any]]] = []


def launch_bytes(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[List[torch.Tensor], int]:
    """The distinct plain tensors among a launch's arguments and their summed sizes in bytes (a tensor passed
    twice counts once); no tensors when any argument is a tensor subclass (tracing: nothing launches)."""
    seen = set()
    tensors: List[torch.Tensor] = []
    total = 0
    for a in (*args, *kwargs.values()):
        if not isinstance(a, torch.Tensor):
            continue
        if type(a) is not torch.Tensor:
            return [], 0
        key = (a.data_ptr(), a.dtype, tuple(a.shape), tuple(a.stride()))
        if key in seen:
            continue
        seen.add(key)
        tensors.append(a)
        total += a.numel() * a.element_size()
    return tensors, total


def _kernel_name(fn: Any) -> str:
    inner = getattr(fn, "fn", None)
    return str(getattr(inner, "__name__", None) or getattr(fn, "__name__", None) or "kernel")


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(self, *args, grid, warmup, **kwargs):
        if warmup or _RecordFunctionFast is None or exact_metadata.get() or not _profiling():
            return original(self, *args, grid=grid, warmup=warmup, **kwargs)
        tensors, nbytes = launch_bytes(args, kwargs)
        if not tensors:
            return original(self, *args, grid=grid, warmup=warmup, **kwargs)
        name = _kernel_name(self)
        meta = {"kernel_num_gb": nbytes / 1e9, "kernel_backend": LAUNCH_ARGS_BACKEND, "kernel_name": name}
        with _RecordFunctionFast(f"triton::{name}", tensors, meta):
            return original(self, *args, grid=grid, warmup=warmup, **kwargs)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


def _launch_classes() -> List[type]:
    classes: List[type] = []
    try:
        from triton.runtime.jit import JITFunction

        classes.append(JITFunction)
    except ImportError:
        return classes
    try:
        from triton.runtime.interpreter import InterpretedFunction

        classes.append(InterpretedFunction)
    except ImportError:
        pass
    return classes


@contextlib.contextmanager
def recording_triton_launches() -> Iterator[bool]:
    """Record the tensor arguments' bytes of every Triton launch into the trace while active; yields
    whether Triton is there to hook. Nests; the original launch methods are back afterwards."""
    global _depth
    with _lock:
        if _depth == 0:
            for cls in _launch_classes():
                original = cls.__dict__.get("run")
                if original is not None:
                    _originals.append((cls, original))
                    cls.run = _wrap(original)  # type: ignore[attr-defined]
        _depth += 1
        hooked = bool(_originals)
    try:
        yield hooked
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _originals:
                    cls, original = _originals.pop()
                    cls.run = original  # type: ignore[attr-defined]
