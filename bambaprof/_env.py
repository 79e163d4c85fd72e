"""The software and hardware a result was measured on, for result files."""

from __future__ import annotations

import datetime
import platform
from typing import Dict, Optional


def environment(device: Optional[str] = None) -> Dict[str, Optional[str]]:
    """Date (UTC), bambaprof, Python, torch, CUDA, Triton and driver versions, the device name, and whether
    bambaprof's Triton kernels launch through the launch shortcut (``launch_shortcut``: ``on``/``keyed``/``kept``/
    ``off``, see :mod:`bambaprof.ssm.kernels.launch`; it moves eager wall times at small shapes), and the ``triton`` variant's
    chunk scan it runs on this device (``ssd_scan``: ``BAMBAPROF_SSD_SCAN`` or the default, ``auto``, where that is
    a Gluon form or ``auto`` and the device a Hopper GPU, where the Gluon scan serves bf16 inputs, inside CUDA
    graphs only for ``auto``; else ``triton``, ``_chunk_scan``; either with the kernels' chunk after a colon where the
    setting names one, ``gluon_late:128``; None for a setting that names no scan), and on a CUDA device whether cuBLAS
    may compute float32 matmuls in TF32 (``matmul_tf32``: ``on``/``off``; ``torch.backends.cuda.matmul.allow_tf32``,
    which ``torch.set_float32_matmul_precision`` and ``TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1`` turn on).

    Values that cannot be known here (no GPU, no Triton) are ``None``.
    """
    import torch

    from ._version import __version__

    info: Dict[str, Optional[str]] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bambaprof": __version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "triton": None,
        "driver": None,
        "device_name": None,
        "launch_shortcut": None,
        "ssd_scan": None,
        "matmul_tf32": None,
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        pass
    else:
        from .ssm.kernels.launch import mode
        from .ssm.kernels.ssd import LaunchConfig, scan_kernel_from_env

        info["launch_shortcut"] = mode()
        try:
            info["ssd_scan"] = scan_kernel_from_env() or LaunchConfig().scan_kernel
        except ValueError:
            pass
    on_gpu = (device or "").startswith("cuda") and torch.cuda.is_available()
    scan, colon, chunk = (info["ssd_scan"] or "").partition(":")
    if scan not in ("", "triton") and not (on_gpu and torch.cuda.get_device_capability(0)[0] == 9):
        info["ssd_scan"] = "triton" + colon + chunk  # the Gluon scan is Hopper's; a kernel chunk holds for both
    if on_gpu:
        info["device_name"] = torch.cuda.get_device_name(0)
        info["matmul_tf32"] = "on" if torch.backends.cuda.matmul.allow_tf32 else "off"
        try:
            import pynvml

            pynvml.nvmlInit()
            try:
                drv = pynvml.nvmlSystemGetDriverVersion()
                info["driver"] = drv.decode() if isinstance(drv, bytes) else drv
            finally:
                pynvml.nvmlShutdown()
        except Exception:  # NVML missing or unusable: the driver stays unknown
            pass
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info
