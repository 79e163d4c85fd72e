"""Bytes of kernels replayed from CUDA graphs, from a launch map.

A CUDA graph replays its kernels without the ops that launched them at capture: in the trace they hang off
one ``cudaGraphLaunch``, so neither inductor's ``kernel_num_gb`` nor the shape models can reach them. For
runs that replay graphs, ``profile`` also records a *launch map*: one step of the same compiled code (from
inductor's cache) without its CUDA graphs (``launch-map.json.gz`` in the run directory), where every kernel is
launched by its op. Each graph launch's kernels, in order, are aligned by name with the map's kernels in launch order (a
graph replays what it captured in the order it was launched): an aligned kernel takes its counterpart's
traffic. A kernel left unaligned takes the traffic of the map's kernels with the same name, grid and block
(the launch configuration follows the problem size), then of its name alone when every such kernel moved the
same bytes (autotuning may pick another configuration in the map's compilation, not other bytes); a key seen
with different traffic is ambiguous and stays unknown. The source is ``launch map``. Last, a replayed inductor
kernel takes the counts inductor wrote into its generated module for that kernel name
(``inductor-kernels.json``, :mod:`bambaprof.collect.inductor_kernels`; source ``inductor module``): they reach
kernels the map's own compilation did not pick (max-autotune may choose another GEMM there).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from .trace import Trace
from .traffic import Traffic

#: Runtime/driver calls that replay a graph (CUDA runtime, driver, HIP).
GRAPH_LAUNCH = re.compile(r"^(cuda|cu|hip)GraphLaunch")

Key = Tuple[str, tuple, tuple]


def graph_replayed(trace: Trace) -> List[bool]:
    """Per GPU activity row, whether a graph launch call issued it (matched by correlation id)."""
    rt = trace.runtime
    launches: Set[int] = {c for n, c in zip(rt.name, rt.correlation.tolist()) if GRAPH_LAUNCH.match(n)}
    if not launches:
        return [False] * len(trace.gpu)
    return [c in launches for c in trace.gpu.correlation.tolist()]


def _key(trace: Trace, i: int) -> Key:
    gpu = trace.gpu
    return gpu.name[i], tuple(gpu.grid[i].tolist()), tuple(gpu.block[i].tolist())


@dataclass
class LaunchMap:
    """Traffic by (kernel name, grid, block), learned from a trace whose kernels were launched by ops."""

    traffic: Dict[Key, Traffic] = field(default_factory=dict)
    ambiguous: int = 0  # keys seen with different traffic: left unknown
    by_name: Dict[str, Traffic] = field(default_factory=dict)  # names whose every launch moved the same bytes
    sequence: List[str] = field(default_factory=list)  # the map's kernels in launch order
    sequence_traffic: List[Optional[Traffic]] = field(default_factory=list)
    inductor: Dict[str, Traffic] = field(default_factory=dict)  # inductor's counts by kernel name (last resort)

    @classmethod
    def from_trace(cls, trace: Trace) -> "LaunchMap":
        from .kernels import instance_traffic

        seen: Dict[Key, Optional[Traffic]] = {}
        traffic = instance_traffic(trace)
        gpu = trace.gpu
        order = sorted((i for i in range(len(gpu)) if gpu.kind[i] == "kernel"), key=lambda i: float(gpu.ts[i]))
        sequence = [gpu.name[i] for i in order]
        sequence_traffic = [_relabel(traffic[i]) for i in order]
        for i, t in enumerate(traffic):
            if trace.gpu.kind[i] != "kernel" or t is None:
                continue
            k = _key(trace, i)
            prev = seen.get(k, t)
            same = prev is not None and math.isclose(prev.bytes, t.bytes, rel_tol=1e-9) and prev.flops == t.flops
            seen[k] = t if same else None
        known = {k: Traffic(t.bytes, t.flops, "launch map") for k, t in seen.items() if t is not None}
        names: Dict[str, Optional[Traffic]] = {}
        for k, t in seen.items():
            prev = names.get(k[0], t)
            names[k[0]] = t if prev is t or (prev is not None and t is not None and prev.bytes == t.bytes
                                              and prev.flops == t.flops) else None
        by_name = {n: Traffic(t.bytes, t.flops, "launch map") for n, t in names.items() if t is not None}
        return cls(known, sum(1 for t in seen.values() if t is None), by_name, sequence, sequence_traffic)

    def fill(self, trace: Trace, traffic: List[Optional[Traffic]]) -> int:
        """Fill the unknown entries of ``traffic`` (per GPU row of ``trace``) for kernels replayed from a
        graph that the map knows; returns how many it filled.

        Each graph launch's kernels, in order, are aligned with the map's kernel sequence by name (a graph
        replays its kernels in the order they were captured, and the map launched the same code in the same
        order): an aligned kernel takes its counterpart's traffic. This tells apart launches of one kernel
        with the same grid but different shapes (persistent GEMMs launch one wave whatever the shape). A
        kernel left unaligned falls back to the (name, grid, block) key, then to the name, then to inductor's
        counts for its name (:meth:`with_inductor_counts`)."""
        if not self.sequence and not self.inductor:
            return 0
        gpu = trace.gpu
        replayed = graph_replayed(trace)
        launches: Dict[int, List[int]] = {}
        for i, flag in enumerate(replayed):
            if flag and gpu.kind[i] == "kernel":
                launches.setdefault(int(gpu.correlation[i]), []).append(i)
        aligned: Dict[tuple, Dict[int, Optional[Traffic]]] = {}
        filled = 0
        for rows in launches.values():
            rows.sort(key=lambda i: float(gpu.ts[i]))
            names = tuple(gpu.name[i] for i in rows)
            if names not in aligned:
                aligned[names] = self._align(names)
            matches = aligned[names]
            for pos, i in enumerate(rows):
                if traffic[i] is not None:
                    continue
                key = _key(trace, i)
                t = (matches.get(pos) or self.traffic.get(key) or self.by_name.get(key[0])
                     or self.inductor.get(key[0]))
                if t is not None:
                    traffic[i] = t
                    filled += 1
        return filled

    def with_inductor_counts(self, counts: Any) -> "LaunchMap":
        """Add inductor's counts by kernel name (``inductor-kernels.json``: ``{name: {"kernel_num_gb",
        "kernel_flop"}}``); malformed entries are skipped. Source ``inductor module``."""
        if isinstance(counts, dict):
            for name, entry in counts.items():
                gb = entry.get("kernel_num_gb") if isinstance(entry, dict) else None
                flop = entry.get("kernel_flop") if isinstance(entry, dict) else None
                if isinstance(gb, (int, float)) and not isinstance(gb, bool) and math.isfinite(gb) and gb > 0:
                    ok = isinstance(flop, (int, float)) and not isinstance(flop, bool) and math.isfinite(flop) and flop > 0
                    self.inductor[str(name)] = Traffic(float(gb) * 1e9, float(flop) if ok else None, "inductor module")
        return self

    def _align(self, names: tuple) -> Dict[int, Optional[Traffic]]:
        """Position in ``names`` -> the traffic of the map kernel it aligns with (longest matching blocks)."""
        matcher = difflib.SequenceMatcher(None, names, self.sequence, autojunk=False)
        out: Dict[int, Optional[Traffic]] = {}
        for a, b, size in matcher.get_matching_blocks():
            for k in range(size):
                out[a + k] = self.sequence_traffic[b + k]
        return out


def _relabel(t: Optional[Traffic]) -> Optional[Traffic]:
    return Traffic(t.bytes, t.flops, "launch map") if t is not None else None
