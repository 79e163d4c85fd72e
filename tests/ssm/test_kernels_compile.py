"""The triton variant's kernels compile for the H200 (sm_90) here, with no GPU: the interpreter that
the other CPU tests use never compiles them, so this is what catches an error of the GPU path in CI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ptxas_available() -> bool:
    import triton

    return (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas").is_file()


@pytest.mark.skipif(not _ptxas_available(), reason="this Triton has no bundled ptxas to compile for NVIDIA GPUs")
@pytest.mark.parametrize("offsets", ["i32", "i64"])
def test_kernels_compile_for_sm90_with_tensor_core_products(offsets):
    env = dict(os.environ, TRITON_INTERPRET="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    extra = ["--i64"] if offsets == "i64" else []
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "triton_resource_usage.py"), "--json", *extra],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kernels = json.loads(proc.stdout)["kernels"]
    assert set(kernels) == {"_chunk_prep", "_chunk_scan", "_decode", "_chunk_states (small batch)",
                            "_chunk_states (large batch)"}
    for name in ("_chunk_prep", "_chunk_scan", "_chunk_states (small batch)", "_chunk_states (large batch)"):
        assert kernels[name]["hgmma"] + kernels[name]["hmma"] > 0, f"{name}: no tensor-core instructions"
