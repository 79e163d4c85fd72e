"""Byte and FLOP counts of bambaprof's Triton kernels, recorded into profiler traces.

While the PyTorch profiler runs, each launch is wrapped in a record-function
event named ``bambaprof::<kernel>`` whose args carry ``kernel_num_gb`` (bytes the
kernel must move / 1e9), ``kernel_flop`` and ``kernel_backend``, the same keys
inductor writes, so ``bambaprof analyze`` reports the kernel's achieved
bandwidth from them. Outside profiling this costs one flag check.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, ContextManager, Iterator, Sequence, Union

import torch

try:  # private but stable since torch 2.2; inductor uses it for the same purpose
    from torch._C._profiler import _RecordFunctionFast
except ImportError:  # pragma: no cover - older torch: no metadata, kernels still run
    _RecordFunctionFast = None


#: Set while a launch carries exact metadata: the generic Triton launch hook
#: (:mod:`bambaprof.collect.triton_launches`) then leaves it alone.
exact_metadata = contextvars.ContextVar("bambaprof_exact_metadata", default=False)


def _profiling() -> bool:
    return bool(getattr(torch.autograd.profiler, "_is_profiler_enabled", False))


def kernel_metadata(name: str, nbytes: Union[int, Callable[[], int]], flops: Union[int, Callable[[], int]],
                    inputs: Sequence[torch.Tensor]) -> ContextManager[None]:
    """Wrap one kernel launch so a trace records its ``nbytes`` (bytes) and ``flops``; a shared no-op
    context when nothing records (the common case, on the launch's hot path). Either count may be a function
    returning it, called only when a trace records (eager launches then skip the arithmetic)."""
    if not recording(inputs):
        return _NULL
    return _recording(name, nbytes() if callable(nbytes) else nbytes, flops() if callable(flops) else flops, inputs)


def recording(inputs: Sequence[torch.Tensor]) -> bool:
    """Whether a launch with these inputs would be recorded: a profiler records, no compiler traces, and the
    inputs are plain tensors."""
    if torch.compiler.is_compiling() or _RecordFunctionFast is None or not _profiling():
        # compiling: checked first, so that dynamo never reads (and guards on) the profiler's flag, which would
        # recompile the graph when the profiler starts; compiled code launches the kernel without this wrapper
        return False
    # tensor subclasses mean tracing (fake, functional tensors): nothing is launched
    return all(type(t) is torch.Tensor for t in inputs)


_NULL = contextlib.nullcontext()


@contextlib.contextmanager
def _recording(name: str, nbytes: int, flops: int, inputs: Sequence[torch.Tensor]) -> Iterator[None]:
    args = {"kernel_num_gb": nbytes / 1e9, "kernel_flop": flops, "kernel_backend": "triton",
            "kernel_name": name}
    token = exact_metadata.set(True)
    try:
        with _RecordFunctionFast(f"bambaprof::{name}", list(inputs), args):
            yield
    finally:
        exact_metadata.reset(token)
