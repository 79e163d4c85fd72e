"""Nsight Systems' sampled GPU metrics (``nsys profile --gpu-metrics-devices``): their summary over the GPU
window, and the samples of the metrics attributed to kernels (:mod:`..sampled`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .export import DEVICE_TABLES, Export


def metrics_window(ex: Export) -> Optional[Tuple[int, int]]:
    """(first start, last end) in ns of the GPU work read, when the export has GPU metrics to summarise over
    it (``GPU_METRICS`` and ``TARGET_INFO_GPU_METRICS`` with the columns used); else ``None``."""
    if "GPU_METRICS" not in ex.tables or "TARGET_INFO_GPU_METRICS" not in ex.tables:
        return None
    have, info = set(ex.columns("GPU_METRICS")), set(ex.columns("TARGET_INFO_GPU_METRICS"))
    if not {"timestamp", "metricId", "value"} <= have or not {"metricId", "metricName"} <= info:
        return None
    bounds = [ex.db.execute(f"SELECT MIN([start]), MAX([end]) FROM [{t}]{w[0]}", w[1]).fetchone()
              for t in DEVICE_TABLES if t in ex.tables and {"start", "end"} <= set(ex.columns(t))
              for w in [ex.where(t, set(ex.columns(t)))] if w is not None]
    starts = [b[0] for b in bounds if isinstance(b[0], int)]
    ends = [b[1] for b in bounds if isinstance(b[1], int)]
    return (min(starts), max(ends)) if starts and ends else None


#: Most samples of one metric attributed to kernels (10 kHz for 10 minutes of GPU window); a longer capture
#: keeps its window summary but not the per-kernel figures.
MAX_KERNEL_SAMPLES = 6_000_000


def gpu_metrics(ex: Export, window: Tuple[int, int]) -> Dict[str, Dict[str, Any]]:
    """Nsight Systems' sampled GPU metrics (``nsys profile --gpu-metrics-devices``: ``GPU_METRICS`` named by
    ``TARGET_INFO_GPU_METRICS``) over the GPU window of the activity read (first start to last end, on the
    export's clock): ``{"nsys.<metric name>" (and " (<GPU>)" when several GPUs were sampled): {"mean", "max",
    "samples"}}`` of the values as sampled (``[Throughput %]`` metrics are percent of their peak), ``window``
    being :func:`metrics_window`'s. Empty when no sample falls in the window."""
    have, info = set(ex.columns("GPU_METRICS")), set(ex.columns("TARGET_INFO_GPU_METRICS"))
    by_type = "typeId" in have
    names: Dict[Tuple[Any, Any], str] = {}
    gpu_names: Dict[Any, str] = {}
    cols = "typeId, metricId, metricName" + (", typeName" if "typeName" in info else "")
    for row in ex.db.execute(f"SELECT {cols if 'typeId' in info else 'NULL, metricId, metricName'} "
                             "FROM TARGET_INFO_GPU_METRICS"):
        names[(row[0] if by_type else None, row[1])] = str(row[2])
        names.setdefault((None, row[1]), str(row[2]))
        if len(row) > 3 and row[0] is not None:
            gpu_names[row[0]] = f"{row[3] or 'GPU'} {row[0]:#x}" if isinstance(row[0], int) else str(row[3])
    group = "typeId" if by_type else "NULL"
    rows = ex.db.execute(f"SELECT {group}, metricId, AVG(value), MAX(value), COUNT(*) FROM GPU_METRICS "
                         f"WHERE timestamp BETWEEN ? AND ? AND typeof(value) IN ('integer', 'real') "
                         f"GROUP BY {group}, metricId", window).fetchall()
    gpus = {r[0] for r in rows}
    out: Dict[str, Dict[str, Any]] = {}
    for gpu, metric, mean, peak, n in rows:
        name = names.get((gpu, metric)) or names.get((None, metric)) or f"metric {metric}"
        if name.endswith(RAW_SUFFIX):
            continue  # raw accumulators whose unit is not documented (negative on the H200): unknown
        scale = 1e-6 if name.endswith("[MHz]") and float(peak) > HZ_ABOVE else 1.0  # recorded in Hz
        where = f" ({gpu_names.get(gpu, f'type {gpu}')})" if len(gpus) > 1 else ""  # nsys's typeId, as it is
        out[f"nsys.{name}{where}"] = {"mean": float(mean) * scale, "max": float(peak) * scale, "samples": int(n)}
    return dict(sorted(out.items()))


#: Metrics left out of the summary: ``[Avg]`` warps counters, raw values of no documented unit (the H200's
#: capture gave means below zero); their ``[Avg Warps per Cycle]`` and ``[Throughput %]`` forms are read.
RAW_SUFFIX = "[Avg]"
#: A ``[MHz]`` metric above this is in Hz, as Nsight Systems 2025.3 records clocks (the H200's GPC clock:
#: 1,979,394,094): it is written in MHz.
HZ_ABOVE = 1e5


#: Sampled metrics attributed to kernels (:mod:`.sampled`), by the name Nsight Systems gives them.
PER_KERNEL_METRICS = ("DRAM Read Bandwidth [Throughput %]", "DRAM Write Bandwidth [Throughput %]",
                      "SMs Active [Throughput %]")


def metric_samples(ex: Export, window: Tuple[int, int], notes: List[str]) -> Optional[Dict[str, Any]]:
    """The samples of :data:`PER_KERNEL_METRICS` when the export sampled one GPU: ``{"t_ns": {metric: array},
    "value": {metric: array}}`` in time order (ns on the export's clock); ``None`` when it sampled none, or
    several (which sampled GPU is which CUDA device is not recorded in a way read here), or more samples of a
    metric than :data:`MAX_KERNEL_SAMPLES` (with a note in ``notes``). ``window``: :func:`metrics_window`'s."""
    if "typeId" in ex.columns("GPU_METRICS") and \
            ex.db.execute("SELECT COUNT(DISTINCT typeId) FROM GPU_METRICS").fetchone()[0] != 1:
        return None
    ids = {str(name): mid for mid, name in ex.db.execute("SELECT metricId, metricName FROM TARGET_INFO_GPU_METRICS")}
    import numpy as np

    out: Dict[str, Any] = {"t_ns": {}, "value": {}}
    picked = ("FROM GPU_METRICS WHERE metricId = ? AND timestamp BETWEEN ? AND ? AND typeof(timestamp) = 'integer' "
              "AND typeof(value) IN ('integer', 'real')")
    for metric in PER_KERNEL_METRICS:
        if metric not in ids:
            continue
        count = ex.db.execute(f"SELECT COUNT(*) {picked}", (ids[metric], *window)).fetchone()[0]
        if count > MAX_KERNEL_SAMPLES:
            notes.append(f"GPU metrics are not attributed to kernels: {count:,} samples of {metric} in the window, "
                         f"over the {MAX_KERNEL_SAMPLES:,} read (MAX_KERNEL_SAMPLES); their summary stays")
            return None
        rows = ex.db.execute(f"SELECT timestamp, value {picked} ORDER BY timestamp", (ids[metric], *window)).fetchall()
        if len(rows) >= 3:
            data = np.array(rows, dtype=np.float64)
            out["t_ns"][metric], out["value"][metric] = data[:, 0], data[:, 1]
    return out if out["t_ns"] else None
