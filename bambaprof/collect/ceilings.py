"""The device's measured ceilings: the copy bandwidth and matmul rates it reaches, measured once and cached.

``profile`` records them in each CUDA run's manifest (``device.ceilings``) so that ``analyze`` judges kernels
against what the device reaches rather than its datasheet: a device-to-device copy of 1 GiB (bytes read +
written over the median time, GB/s) and 8192^3 matmuls in bfloat16 and float32 (TFLOP/s, with torch's
current float32 matmul precision). A measurement takes about a second; it is cached per device (name and
NVML UUID) and torch version in ``$XDG_CACHE_HOME/bambaprof/ceilings.json`` (``~/.cache`` by default).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Callable, Optional

from ..run import Ceilings

CACHE_NAME = "ceilings.json"


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bambaprof" / CACHE_NAME


def measure(device: str) -> Ceilings:
    """Measure the ceilings of the CUDA device ``device`` (about a second)."""
    import torch

    from ..bench.ssd import _copy_ms, _matmul_ms

    n_bytes, m = 1 << 30, 8192
    copy_ms = _copy_ms(device, n_bytes)
    bf16_ms, fp32_ms = _matmul_ms(device, m, torch.bfloat16), _matmul_ms(device, m, torch.float32)
    return Ceilings(copy_gbps=2 * n_bytes / (copy_ms * 1e6), bf16_tflops=2 * m ** 3 / (bf16_ms * 1e9),
                    fp32_tflops=2 * m ** 3 / (fp32_ms * 1e9),
                    measured=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
                    method="1 GiB device-to-device copy; 8192^3 matmuls (bambaprof profile)")


def device_ceilings(device: str, key: str, measure_fn: Callable[[str], Ceilings] = measure,
                    path: Optional[Path] = None) -> Optional[Ceilings]:
    """The cached ceilings of the device identified by ``key`` (name, UUID, torch version), measured with
    ``measure_fn`` when the cache has none; ``None`` on the CPU or when the measurement fails."""
    if not device.startswith("cuda"):
        return None
    path = path or cache_path()
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache.get(key), dict):
        try:
            return Ceilings(**cache[key])
        except TypeError:
            pass  # an entry of another version: measure again
    try:
        ceilings = measure_fn(device)
    except Exception:  # noqa: BLE001 - out of memory or a busy device: the run goes on without ceilings
        return None
    cache[key] = ceilings.to_dict()
    try:
        from .._io import write_text_atomic

        write_text_atomic(path, json.dumps(cache, indent=1) + "\n")
    except Exception:  # noqa: BLE001 - an unwritable cache costs a measurement next time, nothing else
        pass
    return ceilings
