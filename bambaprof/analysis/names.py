"""Kernel names: a grouping key, and a readable form for tables and charts.

:func:`normalize_kernel_name`, the key under which instances of one kernel group together:

- C++ kernels lose ``void`` and their argument list, keeping template arguments
  (they tell instantiations apart);
- inductor kernels lose the trailing ``_<n>`` counter (``triton_poi_fused_add_0``
  -> ``triton_poi_fused_add``);
- runs of 16 or more hex digits (hashes) become ``<hash>``.

:func:`kernel_display_name`, what a table shows of that key. A CUDA kernel's name in a
Kineto trace is its demangled C++ signature: PyTorch's elementwise kernels run to
300-500 characters of namespaces, the lambdas they are built from
(``{lambda()#3}::operator()() const::...``) and argument lists written out twice, and
they share both their start and their end, so cutting them to a width makes different
kernels look alike. :func:`kernel_display_name` keeps what tells them apart (the kernel
template, its functor and the element type) and drops the rest:

- a return type before the name (``void``, ``enable_if<...>::type``);
- namespaces (``at::native::``, ``c10::``, ``(anonymous namespace)::``, ...);
- ``::operator()() const`` and lambdas without parameters in a closure chain;
- argument lists of references (``(at::TensorIteratorBase&)``);
- a lambda with parameters becomes its parameter types in brackets:
  ``{lambda(c10::BFloat16)#1}`` -> ``[BFloat16]``.

So ``void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<
at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()()
const::{lambda()#12}::operator()() const::{lambda(c10::BFloat16)#1}>(...)::{lambda(int)#1}>``
reads ``elementwise_kernel<128, 4, gpu_kernel_impl_nocast<direct_copy_kernel_cuda[BFloat16]>[int]>``.
Names without C++ decoration (Triton's, cuBLAS's ``nvjet_...``) are unchanged. The
full name stays the kernel's identity everywhere (grouping, JSON, CSV, hover text).
"""

from __future__ import annotations

import re
from functools import lru_cache

_INDUCTOR = re.compile(r"^(triton_(?:poi|red|per|tem|for|spl|mm|bmm|unk)_\w*?)_\d+$")
_HASH = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{16,}(?![0-9a-fA-F])")


def _strip_arguments(name: str) -> str:
    if not name.endswith(")"):
        return name
    depth = 0
    for i in range(len(name) - 1, -1, -1):
        c = name[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return name[:i].rstrip() if i > 0 else name
    return name


@lru_cache(maxsize=65536)
def normalize_kernel_name(name: str) -> str:
    """The grouping key of a kernel name; see the module docstring."""
    out = name.strip()
    if out.startswith("void "):
        out = out[5:]
    out = _strip_arguments(out)
    m = _INDUCTOR.match(out)
    if m:
        out = m.group(1)
    return _HASH.sub("<hash>", out)


_OPERATOR_CALL = re.compile(r"::operator\(\)\(\) const")
_EMPTY_LAMBDA = re.compile(r"(?:::)?\{lambda\(\)#\d+\}")
_LAMBDA = re.compile(r"(?:::)?\{lambda\(([^(){}]*)\)#\d+\}")
_REFERENCE_ARGS = re.compile(r"\([^()]*&[^()]*\)")  # an innermost argument list holding a reference
_QUALIFIER = re.compile(r"\b(?:[A-Za-z_]\w*::)+(?=[A-Za-z_~])")
_SPACED_CLOSING = re.compile(r">\s+(?=>)")  # "> >" -> ">>", chains included


def kernel_display_name(name: str) -> str:
    """A readable form of a demangled kernel name (see the module's docstring); never empty."""
    text = name.strip()
    if not text or ("::" not in text and not text.startswith("void ")):
        return text or name
    text = text.replace("(anonymous namespace)::", "")
    text = _OPERATOR_CALL.sub("", text)
    text = _EMPTY_LAMBDA.sub("", text)
    text = _LAMBDA.sub(r"[\1]", text)
    previous = None
    while previous != text:  # inner argument lists first, then the lists that held them
        previous, text = text, _REFERENCE_ARGS.sub("", text)
    text = _QUALIFIER.sub("", text)
    text = _after_return_type(text)
    text = _SPACED_CLOSING.sub(">", text)
    return text.strip() or name


def _after_return_type(text: str) -> str:
    """``text`` from after its last space outside brackets (a return type such as ``void`` or
    ``enable_if<...>::type`` precedes the kernel's own name there)."""
    depth = 0
    cut = 0
    for i, ch in enumerate(text):
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth = max(depth - 1, 0)
        elif ch == " " and depth == 0:
            cut = i + 1
    return text[cut:]
