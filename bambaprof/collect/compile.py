"""torch.compile modes and options, and dynamo's counters around them.

``none`` runs eagerly. Other modes go through ``torch.compile``; options given
with ``--compile-option key=value`` are merged over the mode's own inductor
options (``torch.compile`` takes a mode or options, not both). For compiled
runs inductor's ``benchmark_kernel`` is switched on, so that each kernel's
launch carries ``kernel_num_gb`` into the profiler trace (the byte count
``bambaprof analyze`` reads); ``TORCHINDUCTOR_PROFILE`` is not used because it
drops kernel events.
"""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Tuple

from ..errors import UsageError
from ..run import COMPILE_MODES


def parse_compile_options(pairs: Tuple[str, ...]) -> Dict[str, Any]:
    """``("epilogue_fusion=True", "max_autotune_gemm_backends=TRITON")`` -> dict with Python values."""
    out: Dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--compile-option must look like key=value, got {pair!r}")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        out[key] = value
    return out


@dataclass
class CompileCounters:
    """Dynamo's counters at one moment: frames compiled (each recompilation adds one) and graph breaks."""

    frames: int
    graph_breaks: int
    unique_graphs: int

    @classmethod
    def read(cls) -> "CompileCounters":
        from torch._dynamo.utils import counters

        return cls(
            frames=int(counters["frames"].get("ok", 0)),
            graph_breaks=int(sum(counters["graph_break"].values())),
            unique_graphs=int(counters["stats"].get("unique_graphs", 0)),
        )

    def since(self, earlier: "CompileCounters") -> "CompileCounters":
        return CompileCounters(self.frames - earlier.frames, self.graph_breaks - earlier.graph_breaks,
                               self.unique_graphs - earlier.unique_graphs)


def graph_break_reasons(limit: int = 5) -> Dict[str, int]:
    """The most frequent graph-break reasons dynamo recorded."""
    from torch._dynamo.utils import counters

    items = sorted(counters["graph_break"].items(), key=lambda kv: -kv[1])[:limit]
    return {str(k).splitlines()[0][:200]: int(v) for k, v in items}


def compile_callable(fn: Callable, mode: str, options: Dict[str, Any], dynamic: bool) -> Callable:
    """``fn`` compiled for ``mode`` (``none``: unchanged)."""
    if mode not in COMPILE_MODES:
        raise UsageError(f"unknown compile mode {mode!r} (choose from {', '.join(COMPILE_MODES)})")
    if mode == "none":
        return fn
    import torch
    import torch._inductor.config as inductor_config

    inductor_config.benchmark_kernel = True  # kernels carry kernel_num_gb into traces
    kwargs: Dict[str, Any] = {"dynamic": True if dynamic else None}
    if options:
        kwargs["options"] = inductor_options(mode, options)
    elif mode != "default":
        kwargs["mode"] = mode
    return torch.compile(fn, **kwargs)


def inductor_options(mode: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Inductor's options for compile ``mode`` with ``options`` merged over them (``torch.compile``
    takes a mode or options, not both)."""
    import torch._inductor

    return {**torch._inductor.list_mode_options(mode), **options}


def check_inductor_options(options: Dict[str, Any]) -> None:
    """Raise a usage error naming the first key of ``options`` that inductor does not know (with the
    closest known names), before anything compiles."""
    import difflib

    import torch._inductor.config

    known = torch._inductor.config.get_config_copy()
    for key, value in options.items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UsageError(f"unknown inductor option {key!r}{hint}")
        expected = _option_type(known[key])
        if expected is not None and not _fits(value, expected):
            raise UsageError(f"inductor option {key}={value!r}: expected {expected.__name__} (its default is "
                             f"{known[key]!r})")


def _option_type(default: Any) -> Any:
    """The type an inductor option's value must have, judged by its default (``None``: anything)."""
    for t in (bool, int, float, str, list, tuple, dict):
        if isinstance(default, t):
            return t
    return None


def _fits(value: Any, expected: Any) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected in (list, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, expected)


def uses_cudagraphs(mode: str, options: Dict[str, Any]) -> bool:
    """Whether ``mode`` with ``options`` replays CUDA graphs (inductor's ``triton.cudagraphs``):
    ``reduce-overhead`` and ``max-autotune`` do unless an option turns it off."""
    return mode != "none" and bool(inductor_options(mode, options).get("triton.cudagraphs", False))


def reset_compiler() -> None:
    """Forget compiled code and counters, so one run's compilation does not leak into the next."""
    import torch

    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()


@contextlib.contextmanager
def graphs_left_out() -> Iterator[None]:
    """Within this block, inductor compiles as configured (CUDA graphs included, so its cache key, and with it
    the code its on-disk FX graph cache returns, are those of the measured compilation) but does not wrap the
    compiled code in CUDA graphs: the same kernels, autotuning choices included, run launched by their ops.

    A second compilation with ``triton.cudagraphs`` off would miss that cache and autotune again, and under
    max-autotune it can pick other kernels (on the H200 a cuBLAS GEMM in the measured run was a Triton
    template in the second compilation, and 14% of the kernel time lost its bytes)."""
    import torch._inductor.compile_fx as compile_fx

    def unwrapped(model: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return model

    saved = compile_fx.cudagraphify
    compile_fx.cudagraphify = unwrapped  # type: ignore[assignment]
    try:
        yield
    finally:
        compile_fx.cudagraphify = saved  # type: ignore[assignment]


def fx_graph_cache_misses() -> int:
    """How many graphs inductor compiled afresh (missed or bypassed its FX graph cache) since the counters were
    last cleared (:func:`reset_compiler`); 0 where torch keeps no such counter."""
    from torch._dynamo.utils import counters

    return int(counters["inductor"].get("fxgraph_cache_miss", 0) + counters["inductor"].get("fxgraph_cache_bypass", 0))
