"""Benchmark peers from other projects, loaded from their source without installing them.

``mamba_ssm``'s Triton SSD (``mamba_chunk_scan_combined``) lives in
``mamba_ssm/ops/triton/ssd_combined.py``; the package's ``__init__`` imports
modules that need its CUDA extension, so the package and its ``ops`` packages
are stood in for by empty namespace modules, and ``selective_scan_cuda`` by a
stub. It is called as Bamba calls it: ``D``, ``dt_bias``, ``dt_softplus=True``,
``return_final_states=True``. None of its code is part of bambaprof.

Its kernels are autotuned (``triton.autotune``) on their first call for a key that leaves out the batch and
the sequence length, so the configuration chosen at one shape would serve every later shape. The core
returned carries ``reset_autotuning()`` (forget the choices: the next call tunes at its own shape) and
``autotune_picks()`` (kernel name -> chosen configuration); ``bench ssd`` calls the first before each shape
and records the second.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Union

from ..errors import UsageError


def load_mamba_ssm(source: Union[str, Path]) -> Callable[..., Any]:
    """A core with the SSD contract backed by mamba_ssm's ``mamba_chunk_scan_combined`` from ``source``
    (a folder holding the ``mamba_ssm`` package, e.g. an unpacked sdist)."""
    root = Path(source)
    pkg = root / "mamba_ssm"
    if not (pkg / "ops" / "triton" / "ssd_combined.py").is_file():
        raise UsageError(f"--mamba-ssm {source}: no mamba_ssm/ops/triton/ssd_combined.py under it")
    for name, path in (("mamba_ssm", pkg), ("mamba_ssm.ops", pkg / "ops"), ("mamba_ssm.ops.triton", pkg / "ops" / "triton")):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = [str(path)]  # a namespace stand-in: its __init__ is not run
            sys.modules[name] = module
    sys.modules.setdefault("selective_scan_cuda", types.ModuleType("selective_scan_cuda"))
    try:
        combined = importlib.import_module("mamba_ssm.ops.triton.ssd_combined")
    except ImportError as exc:
        raise UsageError(f"--mamba-ssm {source}: cannot import its Triton SSD ({exc})") from None
    fn = combined.mamba_chunk_scan_combined
    tuners = _autotuners("mamba_ssm.ops.triton.")

    def core(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, dt_softplus=False, dt_limit=(0.0, float("inf")),
             initial_state=None, return_final_state=False) -> Any:
        out = fn(x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, initial_states=initial_state,
                 dt_softplus=dt_softplus, dt_limit=dt_limit, return_final_states=True)
        return out if isinstance(out, tuple) else (out, None)

    core.reset_autotuning = lambda: [t.cache.clear() for t in tuners.values()]  # type: ignore[attr-defined]
    core.autotune_picks = lambda: autotune_picks(tuners)  # type: ignore[attr-defined]
    return core


def _autotuners(prefix: str) -> Dict[str, Any]:
    """The Triton autotuned kernels (``triton.autotune``) of the loaded modules under ``prefix``, by kernel
    name."""
    try:
        from triton.runtime.autotuner import Autotuner
    except ImportError:
        return {}
    found: Dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix) and module is not None:
            for value in vars(module).values():
                if isinstance(value, Autotuner):
                    found[getattr(value.base_fn, "__name__", repr(value))] = value
    return found


def autotune_picks(tuners: Mapping[str, Any]) -> Dict[str, str]:
    """The configuration each autotuned kernel chose (its last, when it tuned for several keys), as Triton
    prints it: block sizes, warps, stages."""
    return {name: str(list(t.cache.values())[-1]) for name, t in sorted(tuners.items()) if t.cache}


def optional_mamba_ssm(source: Optional[str]) -> Optional[Callable[..., Any]]:
    return load_mamba_ssm(source) if source else None
