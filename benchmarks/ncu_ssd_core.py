"""The ``triton`` variant's SSD core (prep and the Gluon chunk scan) at one Bamba-9B mixer shape, for a fixture of
``bambaprof analyze --ncu`` where the scan is L2-bound (run on a Hopper GPU).

Shape: batch 8 x 2048 tokens (h=128, p=64, n=128, g=1, chunk 256), bf16, with ``D``, ``dt_bias`` and softplus, as
the mixer calls it; the chunk scan is the one ``BAMBAPROF_SSD_SCAN`` names (``auto``'s choice when unset:
``gluon_slim`` at this size on an H100 or H200). One forward is two kernels: ``_chunk_prep`` and the scan.

    python benchmarks/ncu_ssd_core.py trace OUT.json.gz   # profile one forward (record_shapes)
    ncu --clock-control none --nvtx --nvtx-include "measure/" --section SpeedOfLight ... \\
        python benchmarks/ncu_ssd_core.py ncu              # the same forward under ncu
"""

from __future__ import annotations

import sys

import torch

BATCH, SEQ_LEN = 8, 2048


def workloads():
    from bambaprof.ssm import get_variant
    from bambaprof.ssm.check import Shape, make_inputs

    core = get_variant("triton")
    i = make_inputs(Shape(BATCH, SEQ_LEN, 128, 64, 1, 128, 256), torch.bfloat16, "cuda", 0, False)
    return [(f"ssd_core_{BATCH}x{SEQ_LEN}",
             lambda: core(i["x"], i["dt"], i["A"], i["B"], i["C"], 256, D=i["D"], dt_bias=i["dt_bias"],
                          dt_softplus=True))]


def main(argv) -> int:
    from ncu_workloads import run_workloads  # the sibling script: same warm-up, NVTX range and trace export

    return run_workloads(workloads(), argv[1], argv[2] if len(argv) > 2 else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
