"""Bytes of kernels replayed from CUDA graphs, from a launch map.

A CUDA graph replays its kernels without the ops that launched them at capture: in the trace they hang off
one ``cudaGraphLaunch``, so neither inductor's ``kernel_num_gb`` nor the shape models can reach them. For
runs that replay graphs, ``profile`` also records a *launch map*: one step of the same compiled code with
CUDA graphs switched off (``launch-map.json.gz`` in the run directory), where every kernel is launched by
its op. A replayed kernel takes the traffic of the map's kernel with the same name, grid and block (the
launch configuration follows the problem size); a key the map saw with different traffic is ambiguous and
stays unknown. The source is ``launch map``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

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

    @classmethod
    def from_trace(cls, trace: Trace) -> "LaunchMap":
        from .kernels import instance_traffic

        seen: Dict[Key, Optional[Traffic]] = {}
        for i, t in enumerate(instance_traffic(trace)):
            if trace.gpu.kind[i] != "kernel" or t is None:
                continue
            k = _key(trace, i)
            prev = seen.get(k, t)
            same = prev is not None and math.isclose(prev.bytes, t.bytes, rel_tol=1e-9) and prev.flops == t.flops
            seen[k] = t if same else None
        known = {k: Traffic(t.bytes, t.flops, "launch map") for k, t in seen.items() if t is not None}
        return cls(known, sum(1 for t in seen.values() if t is None))

    def fill(self, trace: Trace, traffic: List[Optional[Traffic]]) -> int:
        """Fill the unknown entries of ``traffic`` (per GPU row of ``trace``) for kernels replayed from a
        graph that the map knows; returns how many it filled."""
        if not self.traffic:
            return 0
        filled = 0
        for i, replayed in enumerate(graph_replayed(trace)):
            if replayed and traffic[i] is None and trace.gpu.kind[i] == "kernel":
                t = self.traffic.get(_key(trace, i))
                if t is not None:
                    traffic[i] = t
                    filled += 1
        return filled
