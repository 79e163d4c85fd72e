"""Nsight Systems reports, exported to SQLite (``nsys export --type sqlite report.nsys-rep``), read as a trace.

The export keeps CUPTI's activity records in tables; each row becomes the event a Kineto trace would hold for
it, and the events go through the same builder as a Kineto trace's, so every analysis reads them alike:

- ``CUPTI_ACTIVITY_KIND_KERNEL``: a ``kernel`` event on (device, stream), with grid, block, registers per
  thread, correlation id and shared memory per block (static + dynamic, what Kineto records). Its name is
  the mangled name demangled as Kineto does (the C++ runtime's ``__cxa_demangle``: ``kernel<4, ...>``, where
  Nsight's own demangler writes ``kernel<(int)4, ...>(int, T2, T3)``), so that a kernel has the same name in
  both tools and ``compare`` can pair them; the export's demangled name where the runtime is not at hand.
- ``CUPTI_ACTIVITY_KIND_MEMCPY`` / ``_MEMSET``: ``gpu_memcpy`` / ``gpu_memset`` events with their bytes, named
  as Kineto names them (``Memcpy DtoH (Device -> Pageable)``, ``Memset (Device)``).
- ``CUPTI_ACTIVITY_KIND_RUNTIME``: ``cuda_runtime`` or ``cuda_driver`` calls on the calling thread, their
  version suffix dropped (``cudaLaunchKernel_v7000`` -> ``cudaLaunchKernel``), linked to the GPU work they
  launched by correlation id.
- ``CUPTI_ACTIVITY_KIND_GRAPH_TRACE``: a CUDA graph launch that Nsight recorded whole (its default,
  ``--cuda-graph-trace=graph``) is one GPU activity, ``CUDA graph <id>, recorded whole``, so GPU busy and
  idle time stay right; its kernels are not known one by one (a note says so: ``--cuda-graph-trace=node``
  records them as kernels).
- ``NVTX_EVENTS``: push/pop and start/end ranges as ``user_annotation`` ranges.
- ``TARGET_INFO_GPU``: the device properties (SMs, registers, shared memory, compute capability), under the
  CUDA device index the activity records use, and Nsight's DRAM bandwidth of the device (``memoryBandwidth``),
  the peak the analysis uses unless the user gives one (it is what NVML's bus width x clock gives a run).

Times are nanoseconds in the export and microseconds here (the export's clock: the session's, not the epoch).
A report (``.nsys-rep``) is exported first by the ``nsys`` CLI where there is one (:func:`exported`).
Nsight Systems records no PyTorch operators or shapes, so bytes and FLOPs of a kernel are unknown unless
another source gives them. A record whose start and end are both 0 (CUPTI: no timestamp) is left out and
counted. Tables and columns are looked up by name, so exports of older and newer versions read alike; a
column an export lacks is unknown. A gzipped export is inflated to a temporary file first (with the same size
guards as a gzipped trace).

The package: :mod:`.files` finds the database (inflated, or exported from a report), :mod:`.export` opens it
(tables, columns, rows by name, one process's rows), :mod:`.activities` turns GPU work into events,
:mod:`.nvtx` the host side (API calls, NVTX ranges, emit_nvtx's operators), :mod:`.metrics` reads the sampled
GPU metrics, and :mod:`.reader` puts them together (:func:`read_export`, :func:`gpu_processes`).
"""

from .activities import demangle
from .export import ACTIVITY_TABLES, DEVICE_TABLES
from .files import BACKEND, NSYS_ENV, database, exported, is_sqlite, is_unexported_report
from .metrics import MAX_KERNEL_SAMPLES, PER_KERNEL_METRICS
from .nvtx import nvtx_range_name
from .reader import gpu_processes, read_export

__all__ = ["ACTIVITY_TABLES", "BACKEND", "DEVICE_TABLES", "MAX_KERNEL_SAMPLES", "NSYS_ENV", "PER_KERNEL_METRICS",
           "database", "demangle", "exported", "gpu_processes", "is_sqlite", "is_unexported_report",
           "nvtx_range_name", "read_export"]
