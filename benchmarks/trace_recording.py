"""What the trace recorders under ``benchmarks/`` share: their command line (``OUT``, ``--device``), the profiler's
activities for a device, and the line each written trace prints. Imported by the recorders from their own folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Iterable, List, Tuple

import torch
from torch.profiler import ProfilerActivity


def recorder_parser(doc: str) -> argparse.ArgumentParser:
    """A recorder's command line: the folder to write to, and ``--device`` (CUDA where there is one)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def activities(device: str) -> List[ProfilerActivity]:
    """The profiler's activities for ``device``: the CPU's, and CUDA's on a GPU."""
    return [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])


def written(path: Path, note: str = "") -> None:
    """Say a trace was written: ``[note; ]path: size KiB``."""
    print(f"{note + '; ' if note else ''}{path}: {path.stat().st_size / 1024:.0f} KiB")


def record_cases(doc: str, record: Callable[[Any, Path, str], None], cases: Iterable[Tuple[str, Any]]) -> argparse.Namespace:
    """A recorder's main: parse its command line, then ``record(case, OUT/<name>.json.gz, device)`` for each
    ``(name, case)``, saying each trace written; returns the parsed arguments."""
    args = recorder_parser(doc).parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, case in cases:
        path = args.out / f"{name}.json.gz"
        record(case, path, args.device)
        written(path)
    return args
