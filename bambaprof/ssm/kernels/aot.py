"""Ahead-of-time compilation of Triton kernels for a GPU that is not here, and what the compiler made.

:func:`resource_usage` compiles one kernel for a CUDA architecture (default sm_90, the H200) with
Triton's bundled ``ptxas`` and reads the result with its ``cuobjdump``: registers per thread, stack
bytes (spills), local-memory loads and stores, and warpgroup (``HGMMA``) and warp-level (``HMMA``)
matrix instructions. No GPU and no device time are needed, so launch configurations can be screened
here and compile errors of the GPU path caught on a CPU machine (the interpreter does not compile).
Run it with the interpreter off (``TRITON_INTERPRET=0``): under the interpreter ``triton.jit``
makes interpreted functions, which cannot be compiled.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import tempfile
from typing import Any, Dict, Mapping, Optional

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.runtime.jit import JITFunction

from .grid import register_cap

_FLOAT_ARGS = ("dt_lo", "dt_hi", "eps")


def _tools() -> str:
    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")


def resource_usage(kernel: Any, pointer_types: Mapping[str, str], constants: Mapping[str, Any], num_warps: int = 4,
                   num_stages: int = 1, capability: int = 90, maxnreg: Optional[int] = None,
                   values: Optional[Mapping[str, int]] = None,
                   signature: Optional[Mapping[str, str]] = None) -> Dict[str, int]:
    """Compile ``kernel`` for sm_``capability`` and report its resource use.

    Arguments named ``*_ptr`` are pointers (``pointer_types`` maps names to e.g. ``"*bf16"``; others
    ``*fp32``); ``dt_lo``/``dt_hi``/``eps`` are fp32; the rest are i32 unless in ``constants`` (constexprs;
    a constexpr parameter with a default that ``constants`` leaves out takes its default).
    ``maxnreg`` caps the registers per thread (more programs fit on an SM; the rest spills).

    ``values`` gives integer arguments the values a launch would pass, so the kernel is specialised as
    Triton's launcher specialises it: an argument equal to 1 becomes a constant, one divisible by 16 is
    compiled as such (neither where the kernel names the argument in ``do_not_specialize``), and pointers are
    taken as 16-byte aligned (as torch allocates). Without ``values``
    no integer is specialised (and pointers are not taken as aligned): a generic kernel, whose loads
    may not vectorise and whose registers may differ much from the launched one's.
    ``signature`` gives arguments a type of their own (a Gluon kernel's TMA descriptors:
    ``tensordesc<bf16[64, 64],NVMMASharedLayout(...)>``); a Gluon kernel (``gluon.jit``) compiles as one.
    Returns ``registers`` (per thread), ``stack_bytes`` (per thread), ``shared_bytes`` (per program),
    ``local_loads``, ``local_stores``, ``hgmma``, ``hmma``, ``barriers`` (``BAR.SYNC`` instructions: the program's
    thread barriers, those the kernel asks for and those Triton's shared-memory hazard analysis adds).
    """
    if not isinstance(kernel, JITFunction):
        raise TypeError(f"{kernel!r} is not a compilable Triton kernel (is TRITON_INTERPRET=1 set?)")
    fn = kernel
    # constexpr parameters left out take their defaults, as a launch would
    constants = {**{param.name: param.default for param in fn.params
                    if param.is_constexpr and param.default is not inspect.Parameter.empty}, **constants}
    attrs = {}
    if values is not None:
        unknown = sorted(set(values) - set(fn.arg_names))
        if unknown:
            raise ValueError(f"{fn.__name__} has no arguments {', '.join(unknown)}")
        # as the launcher specialises, but not the arguments the kernel marks ``do_not_specialize``
        fixed = {param.name for param in fn.params if getattr(param, "do_not_specialize", False)}
        constants.update({k: 1 for k, v in values.items() if v == 1 and k not in fixed})
        attrs = {(fn.arg_names.index(k),): [["tt.divisibility", 16]] for k, v in values.items()
                 if v != 1 and v % 16 == 0 and k not in fixed}
        attrs.update({(i,): [["tt.divisibility", 16]] for i, name in enumerate(fn.arg_names)
                      if name.endswith("_ptr") and name not in constants})
    types = {name: "constexpr" if name in constants else (signature or {}).get(name) or
             (pointer_types.get(name, "*fp32") if name.endswith("_ptr") else
              "fp32" if name in _FLOAT_ARGS else "i32") for name in fn.arg_names}
    source = ASTSource
    if getattr(fn, "is_gluon", lambda: False)():
        from triton.experimental.gluon._runtime import GluonASTSource as source
    src = source(fn, types, constexprs={(fn.arg_names.index(k),): v for k, v in constants.items()}, attrs=attrs)
    compiled = triton.compile(src, target=GPUTarget("cuda", capability, 32),
                              options={"num_warps": num_warps, "num_stages": num_stages,
                                       **register_cap(maxnreg)})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.cubin")
        with open(path, "wb") as fh:
            fh.write(compiled.asm["cubin"])
        res = subprocess.run([os.path.join(_tools(), "cuobjdump"), "-res-usage", path],
                             capture_output=True, text=True, check=True).stdout
        sass = subprocess.run([os.path.join(_tools(), "cuobjdump"), "-sass", path],
                              capture_output=True, text=True, check=True).stdout
    regs, stack = re.search(r"REG:(\d+) STACK:(\d+)", res).groups()

    def count(op: str) -> int:
        return len(re.findall(rf"\b{op}\b", sass))

    return {"registers": int(regs), "stack_bytes": int(stack), "shared_bytes": int(compiled.metadata.shared),
            "local_loads": count("LDL"),
            "local_stores": count("STL"), "hgmma": count("HGMMA"), "hmma": count("HMMA"),
            "barriers": len(re.findall(r"\bBAR\.SYNC\b", sass))}
