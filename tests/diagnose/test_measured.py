"""The figures findings quote are the committed results they name."""

import json
from pathlib import Path

import pytest

from bambaprof.diagnose import measured

ROOT = Path(__file__).resolve().parents[2]
RATIOS = [v for v in vars(measured).values() if isinstance(v, measured.KernelTimeRatio)]


@pytest.mark.parametrize("ratio", RATIOS, ids=lambda r: Path(r.source).name)
def test_quoted_range_is_the_result_files(ratio):
    """Recomputed from the rows of the file each figure names: the ratio of kernel times at each shape, side by
    side in one run, its smallest and largest over the shapes, the device and the date."""
    data = json.loads((ROOT / ratio.source).read_text())
    assert data["environment"]["device_name"] == ratio.device
    assert data["environment"]["date"].startswith(ratio.date)
    kernel = {(r["variant"], r["batch"], r["seq_len"]): r["kernel_ms"] for r in data["rows"]}
    top, bottom = ratio.rows
    ratios = [kernel[(top, b, n)] / kernel[(bottom, b, n)] for b, n in ratio.shapes]
    assert (round(min(ratios), 2), round(max(ratios), 2)) == (ratio.low, ratio.high)


def test_there_is_something_to_check():
    assert measured.TRITON_CORE_VS_MAMBA_SSM in RATIOS
    assert measured.TRITON_CORE_VS_MAMBA_SSM.quoted == "0.43x to 0.52x"
    assert measured.GLUON_SCAN_VS_TRITON_SCAN in RATIOS
