"""Which launch in a trace each kernel Nsight Compute profiled is.

ncu usually runs in a process of its own, so its kernels carry no correlation id of the trace's: they are matched in
launch order by what both tools record of a launch, the kernel's demangled name and its grid and block.

- **Names.** ncu and Kineto demangle differently (``[lambda() (instance 2)]`` against ``{lambda()#2}``,
  ``T2`` against the parameter types written out, namespaces dropped or kept), so names are compared by
  :func:`base_kernel_name` (the function's name: ``vectorized_elementwise_kernel``) and by
  :func:`kernel_signature` (the identifiers that tell its instantiations apart: the functor, ``silu_kernel`` or
  ``MulFunctor``, and the element types). PyTorch's elementwise kernels share a few base names, so the base name
  alone pairs a softplus with a silu. Where no launch of a base name has the same signature on both sides (the two
  demanglers wrote that kernel too differently), its launches are matched by the base name, and only to launches
  of the same grid and block.
- **Launch.** Where the trace launched a kernel with ncu's grid and block, the ncu kernel is matched only to such
  a launch; else to any launch of it (an autotuned kernel tiled otherwise in ncu's own process, or another size).
- **Order.** The matches keep both tools' launch order, and of all such matchings the one kept matches the most
  (:func:`match_launches`): a weighted longest common subsequence of the two lists, where a match on the name
  counts 1 and one on the launch as well :data:`EXACT_WEIGHT`. So a capture that holds
  another program's kernels too (two models in one ncu file, or the trace's first step missing from ncu's) does not
  pull the later matches out of place, as taking the first launch of each name in turn does, and an autotuned
  kernel tiled otherwise in ncu's own process still finds its launch by name. A launch of the trace is matched at
  most once; an ncu kernel with no launch left in order is unmatched.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

Launch = Tuple[Tuple[int, ...], Tuple[int, ...]]  # (grid, block)

_IDENTIFIER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\s*::)?")
_PLACEHOLDER = re.compile(r"T\d+$")
# words either demangler writes around the identifiers that tell kernels apart
_NOT_SIGNATURE = frozenset({
    "void", "const", "volatile", "operator", "lambda", "instance", "anonymous", "namespace", "unnamed", "struct",
    "class", "typename", "enum", "unsigned", "signed", "int", "long", "short", "char", "ul", "u", "l", "ull",
    "array", "Array", "true", "false",
})


@lru_cache(maxsize=65536)
def base_kernel_name(name: str) -> str:
    """The kernel's function name without namespaces, template arguments or parameters:
    the part Nsight Compute and Kineto agree on (they demangle differently)."""
    from .names import normalize_kernel_name

    clean = normalize_kernel_name(name).replace("<unnamed>::", "").replace("(anonymous namespace)::", "")
    return clean.split("<")[0].split("(")[0].split("::")[-1].strip()


@lru_cache(maxsize=65536)
def kernel_signature(name: str) -> FrozenSet[str]:
    """The identifiers of a kernel's name (its argument list left out) that name things, not namespaces: the
    function, its template's functors and element types (``{"vectorized_elementwise_kernel", "silu_kernel",
    "TensorIteratorBase", "float"}``). Keywords, integer types, lambda numbering, ``std::array`` and ncu's
    placeholder parameter types (``T1``) are left out, and each identifier counts once (Kineto writes a lambda's
    enclosing function twice), so both demanglers' spellings of one instantiation give the same set."""
    from .names import normalize_kernel_name

    out = set()
    for m in _IDENTIFIER.finditer(normalize_kernel_name(name)):
        word = m.group(1)
        if m.group(2) or word in _NOT_SIGNATURE or _PLACEHOLDER.match(word):
            continue  # a namespace or class qualifier, a keyword, a placeholder
        out.add(word)
    return frozenset(out)


def match_launches(trace_names: Sequence[str], trace_launches: Sequence[Launch], ncu_names: Sequence[str],
                   ncu_launches: Sequence[Optional[Launch]]) -> List[Optional[int]]:
    """For each ncu kernel (in ncu's order), the index of its launch in the trace's kernels (in launch order), or
    None; see the module's docstring for the rules. ``*_launches`` are (grid, block) tuples; an ncu kernel whose
    launch is unknown (None) is matched by name."""
    bases = [base_kernel_name(n) for n in trace_names]
    signed = _signed_bases(bases, trace_names, ncu_names)
    by_key: Dict[tuple, List[int]] = {}
    by_launch: Dict[tuple, List[int]] = {}
    for i, (b, n) in enumerate(zip(bases, trace_names)):
        key = (b, kernel_signature(n) if b in signed else None)
        by_key.setdefault(key, []).append(i)
        by_launch.setdefault((key, trace_launches[i]), []).append(i)
    candidates = [_candidates(by_key, by_launch, name, launch, signed)
                  for name, launch in zip(ncu_names, ncu_launches)]
    if sum(len(c[0]) for c in candidates) > MAX_PAIRS:
        return _in_order(candidates)
    pairs = [(a, t, weight) for a, (positions, weight) in enumerate(candidates) for t in reversed(positions)]
    out: List[Optional[int]] = [None] * len(ncu_names)
    for a, t in _heaviest_chain(pairs, len(trace_names)):
        out[a] = t
    return out


def _candidates(by_key: Dict[tuple, List[int]], by_launch: Dict[tuple, List[int]], name: str,
                launch: Optional[Launch], signed: set) -> Tuple[List[int], int]:
    """The trace launches (ascending) an ncu kernel may be, and what a match with one counts for: those of the
    same kernel and the same grid and block where the trace has any (:data:`EXACT_WEIGHT`); else, for a kernel
    known by its signature or a launch ncu's CSV does not give, every launch of the kernel (1: tiled otherwise by an
    autotuner, or another size); else none (a base name alone, the signatures disagreeing, with no launch alike:
    too little to call it the same kernel)."""
    base = base_kernel_name(name)
    key = (base, kernel_signature(name) if base in signed else None)
    positions = by_key.get(key, [])
    exact = by_launch.get((key, launch)) if launch is not None else None
    if exact:
        return exact, EXACT_WEIGHT
    return (positions, 1) if key[1] is not None or launch is None else ([], 1)


MAX_PAIRS = 500_000
"""Candidate (ncu kernel, trace launch) pairs above which the alignment gives way to matching in order (each ncu
kernel the first launch of its kernel after the one matched before): a capture of many launches of one kernel set
against a long trace of them."""

EXACT_WEIGHT = 2
"""What a match of the same grid and block counts for in the alignment, against 1 for one of the same kernel alone:
a match on the launch outweighs one on the name, and weighs as much as two of them."""


def _heaviest_chain(pairs: Sequence[Tuple[int, int, int]], size: int) -> List[Tuple[int, int]]:
    """The heaviest chain of pairs increasing in both indices (a weighted longest common subsequence, found as a
    heaviest increasing subsequence over the candidate pairs with a Fenwick tree of prefix maxima: O(pairs log
    size)). ``pairs`` come ordered by their first index, then by the second descending; of chains that weigh the
    same, the one ending earlier in the trace is kept."""
    best_key: List[Tuple[int, int]] = [(0, 0)] * (size + 1)  # Fenwick tree: (weight, -trace index) of the best chain
    best_pair: List[int] = [-1] * (size + 1)
    parent: List[int] = [-1] * len(pairs)
    top, top_pair = (0, 0), -1
    for p, (_, t, weight) in enumerate(pairs):
        key, prev = (0, 0), -1
        k = t  # the best chain ending before trace index t: tree prefix [1, t]
        while k > 0:
            if best_key[k] > key:
                key, prev = best_key[k], best_pair[k]
            k -= k & -k
        parent[p] = prev
        mine = (key[0] + weight, -t)
        if mine > top:
            top, top_pair = mine, p
        k = t + 1
        while k <= size:
            if mine > best_key[k]:
                best_key[k], best_pair[k] = mine, p
            k += k & -k
    chain = []
    while top_pair >= 0:
        chain.append(pairs[top_pair][:2])
        top_pair = parent[top_pair]
    return chain


def _in_order(candidates: Sequence[Tuple[List[int], int]]) -> List[Optional[int]]:
    """Each ncu kernel its first candidate launch after the launch matched before (no alignment)."""
    out: List[Optional[int]] = []
    cursor = 0
    for positions, _ in candidates:
        j = bisect_left(positions, cursor)
        out.append(positions[j] if j < len(positions) else None)
        if j < len(positions):
            cursor = positions[j] + 1
    return out


def _signed_bases(bases: Sequence[str], trace_names: Sequence[str], ncu_names: Sequence[str]) -> set:
    """Base names matched by signature: those with at least one signature found on both sides."""
    trace_sigs: Dict[str, set] = {}
    for b, n in zip(bases, trace_names):
        trace_sigs.setdefault(b, set()).add(kernel_signature(n))
    out = set()
    for n in ncu_names:
        b = base_kernel_name(n)
        if b in trace_sigs and kernel_signature(n) in trace_sigs[b]:
            out.add(b)
    return out
