"""Benchmark peers from other projects, loaded from their source without installing them.

``mamba_ssm``'s Triton SSD (``mamba_chunk_scan_combined``) lives in
``mamba_ssm/ops/triton/ssd_combined.py``; the package's ``__init__`` imports
modules that need its CUDA extension, so the package and its ``ops`` packages
are stood in for by empty namespace modules, and ``selective_scan_cuda`` by a
stub. It is called as Bamba calls it: ``D``, ``dt_bias``, ``dt_softplus=True``,
``return_final_states=True``. None of its code is part of bambaprof.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any, Callable, Optional, Union

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

    def core(x, dt, A, B, C, chunk_size, D=None, dt_bias=None, dt_softplus=False, dt_limit=(0.0, float("inf")),
             initial_state=None, return_final_state=False) -> Any:
        out = fn(x, dt, A, B, C, chunk_size, D=D, dt_bias=dt_bias, initial_states=initial_state,
                 dt_softplus=dt_softplus, dt_limit=dt_limit, return_final_states=True)
        return out if isinstance(out, tuple) else (out, None)

    return core


def optional_mamba_ssm(source: Optional[str]) -> Optional[Callable[..., Any]]:
    return load_mamba_ssm(source) if source else None
