"""Eager launches of bambaprof's Triton kernels with less host time.

Every ``kernel[grid](*args)`` call goes through Triton's ``JITFunction.run``: it binds the arguments,
specializes each one (dtype and 16-byte alignment of tensors; integers equal to 1 or divisible by 16),
builds a cache key from them and the options, finds the compiled kernel and launches it. With Triton 3.6
on the H200's host that costs about 37 us for a kernel of 30 arguments (``benchmarks/host_time_mixer.py``),
more than the kernel itself at small shapes: the eager mixer and the decode step are host-bound.

:func:`direct` wraps a kernel so that its launches skip that path once it has been taken: the first
launch of each distinct *argument key* goes through ``JITFunction.run`` (compiling if needed), which
returns the compiled kernel; the wrapper keeps it, with the values Triton's own binder gave the launcher
for the parameters not passed positionally (constexprs, defaults). Later launches with the same key call
the compiled kernel directly (``CompiledKernel[grid](...)``, Triton's launcher, on the current stream).

The argument key is stricter than Triton's specialization, so a kept kernel is never used where Triton
would have compiled or chosen another: each tensor's dtype and address modulo 16, every other argument's
exact value (integers, floats, booleans, ``None``), the keyword arguments (constexprs and launch options)
and the current device. An argument of any other type, or a Triton whose internals differ from what this
module reads, launches through ``JITFunction.run`` every time; so does a kernel whose launches keep missing
(at least :data:`MIN_MISSES` misses, more misses than hits: its lengths or addresses rarely repeat).
Under the interpreter (``TRITON_INTERPRET=1``) kernels are launched as they are.

The shortcut is on unless ``BAMBAPROF_TRITON_FAST_LAUNCH=0`` (read at each kernel's first launch in a
process). On the H200 (Triton 3.6, ``benchmarks/results/h200-launch-shortcut.json``) its outputs match plain
launches bit for bit, and side by side it cut the eager mixer's host time at 1 x 512 from 371 to 332 us a
forward and cached decoding (4 layers) from 2.39 to 2.24 ms a token.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ..capabilities import triton_interpreter_on

#: The current CUDA device's index (Triton's CUDA driver asks torch the same).
current_device: Callable[[], int] = torch.cuda.current_device

#: Kept compiled kernels per wrapped kernel before the cache is emptied (distinct shapes and addresses).
MAX_KEYS = 4096
#: Misses after which a kernel whose launches miss more often than they hit stops keying its launches.
MIN_MISSES = 64


def enabled() -> bool:
    """Whether kernels wrapped from now on take the shortcut: not under the interpreter, not turned off
    (``BAMBAPROF_TRITON_FAST_LAUNCH=0``), Triton 3.3 or later."""
    if triton_interpreter_on() or os.environ.get("BAMBAPROF_TRITON_FAST_LAUNCH", "1").strip() == "0":
        return False
    import triton

    major, minor = (int(v) for v in triton.__version__.split(".")[:2])
    return (major, minor) >= (3, 3)  # binder and launcher take every parameter's value, constexprs included


class CachedLaunch:
    """A Triton ``@jit`` kernel whose launches reuse the compiled kernel of an argument key seen before
    (see the module docstring). ``kernel[grid](*args, **kwargs)`` as with the kernel itself."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.arg_names = kernel.arg_names
        self._kept: Dict[tuple, Tuple[Any, tuple]] = {}
        self._usable = True  # False once Triton's internals did not look as expected, or keys rarely repeat
        self._hits = self._misses = 0

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        return lambda *args, **kwargs: self._launch(grid, args, kwargs)

    def _launch(self, grid: Any, args: tuple, kwargs: Dict[str, Any]) -> Any:
        key = _key(args, kwargs) if self._usable and not callable(grid) else None
        kept = self._kept.get(key) if key is not None else None
        if kept is not None:
            self._hits += 1
            compiled, tail = kept
            g = grid if len(grid) == 3 else (tuple(grid) + (1, 1))[:3]
            return compiled[g](*args, *tail)
        compiled = self.kernel[grid](*args, **kwargs)
        if key is not None and compiled is not None:
            self._misses += 1
            if self._misses >= MIN_MISSES and self._misses > self._hits:
                # shapes or addresses rarely repeat (a server's varying lengths): keying only costs
                self._usable = False
                self._kept.clear()
                return compiled
            tail = self._tail(args, kwargs)
            if tail is not None:
                if len(self._kept) >= MAX_KEYS:
                    self._kept.clear()
                self._kept[key] = (compiled, tail)
        return compiled

    def _tail(self, args: tuple, kwargs: Dict[str, Any]) -> Optional[tuple]:
        """The values Triton's binder passes the launcher after the positional arguments, or None (and the
        shortcut off for this kernel) when its internals are not the expected ones."""
        try:
            binder = self.kernel.device_caches[current_device()][-1]
            bound, _specialization, _options = binder(*args, **kwargs)
            values = tuple(bound.values())
            if list(bound)[:len(args)] != list(self.arg_names[:len(args)]) or \
                    any(v is not a for v, a in zip(values, args)):
                raise TypeError("unexpected binder output")
            return values[len(args):]
        except Exception:  # noqa: BLE001 - another Triton: launch through JITFunction.run from now on
            self._usable = False
            self._kept.clear()
            return None


def _key(args: tuple, kwargs: Dict[str, Any]) -> Optional[tuple]:
    """The argument key (see the module docstring), or None when an argument is of another type."""
    parts: list = [current_device()]
    append = parts.append
    for a in args:
        kind = type(a)
        if kind in _TENSORS:  # other subclasses (fake, functional tensors) have no address to key on
            append(a.dtype)
            append(a.data_ptr() & 15)
        elif kind in _SCALARS:
            append(kind)  # True == 1 == 1.0 in Python; Triton types them apart
            append(a)
        else:
            return None
    for name, value in kwargs.items():
        kind = type(value)
        if kind not in _SCALARS and kind is not str:
            return None
        append(name)
        append(kind)
        append(value)
    return tuple(parts)


_SCALARS = (int, float, bool, type(None))
#: Tensors whose address keys a launch: plain ones and parameters (a model's weights, D, dt_bias).
_TENSORS = (torch.Tensor, torch.nn.Parameter)


_wrapped: Dict[Any, Any] = {}


def direct(kernel: Any) -> Any:
    """``kernel`` for an eager launch: a :class:`CachedLaunch` of it where the shortcut applies, else the
    kernel itself. One wrapper per kernel, made on first use."""
    wrapper = _wrapped.get(kernel)
    if wrapper is None:
        wrapper = _wrapped[kernel] = CachedLaunch(kernel) if enabled() else kernel
    return wrapper
