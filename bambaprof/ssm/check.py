"""Accuracy of every variant against ``reference`` on the same seeded inputs.

For each variant and shape the check reports:

- ``max_abs_err``: ``max |y - y_ref|`` (units of y);
- ``rel_err``: ``||y - y_ref||_2 / ||y_ref||_2`` over the whole output;
- ``state_rel_err``: the same for the final state;
- ``decode_rel_err``: prefill of ``L - k`` tokens followed by ``k`` decode
  steps, against one prefill of ``L`` tokens of the same variant (outputs of
  the last ``k`` tokens and the final state; the larger of the two);

``reference`` runs in float64 on the same (already rounded) inputs. Exact
variants pass when both errors are under the dtype's tolerance
(:data:`TOLERANCES`); approximate ones (``independent``) are reported, not
judged, except for their decode consistency, which every variant must keep.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch

from .._memory import TooLarge, is_out_of_memory, require_bytes
from ..errors import first_line
from .contract import Variant
from .reference import REFERENCE

#: Relative-error tolerance of exact variants, by input dtype.
TOLERANCES: Dict[torch.dtype, float] = {
    torch.float64: 1e-10,
    torch.float32: 1e-4,
    torch.float16: 5e-3,
    torch.bfloat16: 1e-2,
}

#: Decode steps compared at the end of the sequence.
DECODE_STEPS = 4


@dataclass(frozen=True)
class Shape:
    """One SSD problem size: batch, length, heads, head dim, groups, state, chunk."""

    batch: int
    seq_len: int
    heads: int
    head_dim: int
    groups: int
    state: int
    chunk_size: int

    @property
    def chunks(self) -> int:
        return -(-self.seq_len // self.chunk_size)  # integer division: exact at any length


@dataclass
class CheckRow:
    """One variant at one shape; errors are ``None`` when the run failed (see ``status``)."""

    variant: str
    exact: bool
    dtype: str
    batch: int
    seq_len: int
    heads: int
    head_dim: int
    groups: int
    state: int
    chunk_size: int
    chunks: int
    max_abs_err: Optional[float]
    rel_err: Optional[float]
    state_rel_err: Optional[float]
    decode_rel_err: Optional[float]
    tolerance: float
    status: str  # "pass", "FAIL", "reported" (approximate variant), or "error: ..."

    def to_dict(self) -> dict:
        return asdict(self)


def input_bytes(shape: Shape, dtype: torch.dtype, initial_state: bool = False) -> int:
    """Bytes of :func:`make_inputs`' tensors: ``x``, ``dt``, ``B``, ``C`` in ``dtype``, the per-head vectors
    (A, D, dt_bias) and the initial state in float32."""
    b, L, h, p, n, ng = shape.batch, shape.seq_len, shape.heads, shape.head_dim, shape.state, shape.groups
    size = torch.empty((), dtype=dtype).element_size()
    return size * b * L * (h * p + h + 2 * ng * n) + 4 * (3 * h + (b * h * p * n if initial_state else 0))


def require_room(shape: Shape, dtypes: Sequence[torch.dtype], device: str, initial_state: bool) -> None:
    """Raise :class:`~bambaprof._memory.TooLarge` before allocating when a set of inputs in each of ``dtypes``
    (and ``x``'s float32 draw, made on the host) cannot fit; a bound from below, so what passes may still fail."""
    draw = 4 * shape.batch * shape.seq_len * shape.heads * shape.head_dim
    need = sum(input_bytes(shape, dtype, initial_state) for dtype in dtypes)
    what = f"inputs at b={shape.batch} L={shape.seq_len}"
    if device.startswith("cuda"):
        require_bytes(draw, "cpu", what)
        require_bytes(need, device, what)
    else:
        require_bytes(draw + need, device, what)


def make_inputs(shape: Shape, dtype: torch.dtype, device: str, seed: int, initial_state: bool) -> dict:
    """Seeded inputs resembling a trained Mamba2 layer: ``A`` in [-16, -1], ``dt_bias`` from
    the Mamba2 dt initialisation, softplus on, unit-variance ``x``, ``B``, ``C``."""
    require_room(shape, (dtype,), device, initial_state)
    g = torch.Generator(device="cpu").manual_seed(seed)
    b, L, h, p, n, ng = shape.batch, shape.seq_len, shape.heads, shape.head_dim, shape.state, shape.groups

    def randn(*size: int) -> torch.Tensor:
        return torch.randn(*size, generator=g, dtype=torch.float32)

    dt_init = torch.exp(torch.rand(h, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    out = dict(
        x=randn(b, L, h, p).to(dtype),
        dt=(0.5 * randn(b, L, h)).to(dtype),
        A=-(1.0 + 15.0 * torch.rand(h, generator=g)),
        B=randn(b, L, ng, n).to(dtype),
        C=randn(b, L, ng, n).to(dtype),
        D=randn(h),
        dt_bias=dt_init + torch.log(-torch.expm1(-dt_init)),
        initial_state=randn(b, h, p, n) if initial_state else None,
    )
    return {k: (v.to(device) if v is not None else None) for k, v in out.items()}


def variant_tolerance(variant: Variant, dtype: torch.dtype) -> float:
    """The dtype's tolerance, loosened to float32's for variants that accumulate in float32."""
    tol = TOLERANCES.get(dtype, 1e-2)
    if variant.extra.get("accumulates_in") == "float32":
        tol = max(tol, TOLERANCES[torch.float32])
    return tol


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    ref = ref.double()
    denom = ref.norm().item()
    diff = (a.double() - ref).norm().item()
    return diff / denom if denom > 0 else diff


def _run(variant: Variant, inp: dict, chunk: int) -> tuple:
    return variant(
        inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], chunk, D=inp["D"], dt_bias=inp["dt_bias"],
        dt_softplus=True, initial_state=inp["initial_state"], return_final_state=True,
    )


def decode_consistency(
    variant: Variant, inp: dict, chunk: int, y_full: torch.Tensor, s_full: torch.Tensor, steps: int = DECODE_STEPS
) -> float:
    """Relative error of prefill(L-k) + k decode steps against one prefill of L (same variant)."""
    L = inp["x"].shape[1]
    k = min(steps, L - 1)
    if k <= 0:
        return 0.0
    head = {key: (val[:, : L - k] if key in ("x", "dt", "B", "C") else val) for key, val in inp.items()}
    _, state = _run(variant, head, chunk)
    ys = []
    for t in range(L - k, L):
        y_t, state = variant.decode(
            state, inp["x"][:, t], inp["dt"][:, t], inp["A"], inp["B"][:, t], inp["C"][:, t],
            D=inp["D"], dt_bias=inp["dt_bias"], dt_softplus=True, chunk_size=chunk, position=t,
        )
        ys.append(y_t)
    return max(_rel(torch.stack(ys, dim=1), y_full[:, L - k:]), _rel(state, s_full))


def check_variants(
    variants: Sequence[Variant],
    shapes: Iterable[Shape],
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    seed: int = 0,
    initial_state: bool = False,
    progress: Optional[Callable[[str], None]] = None,
) -> List[CheckRow]:
    """Run every variant at every shape against float64 ``reference``; one row each."""
    rows: List[CheckRow] = []
    dname = str(dtype).replace("torch.", "")
    for shape in shapes:
        try:  # the inputs and their float64 copy at least
            require_room(shape, (dtype, torch.float64), device, initial_state)
            inp = make_inputs(shape, dtype, device, seed, initial_state)
            ref_inp = {k: (v.double() if v is not None else None) for k, v in inp.items()}
            y_ref, s_ref = _run(REFERENCE, ref_inp, shape.chunk_size)
        except Exception as exc:  # noqa: BLE001 - reported on every variant's row of the shape
            if not is_out_of_memory(exc) and not isinstance(exc, TooLarge):
                raise
            rows.extend(CheckRow(**_row_fields(variant, shape, dname, dtype), max_abs_err=None, rel_err=None,
                                 state_rel_err=None, decode_rel_err=None, status=f"error: out of memory ({exc})"
                                 if isinstance(exc, TooLarge) else "error: out of memory")
                        for variant in variants)
            _release(device)
            continue
        for variant in variants:
            if progress:
                progress(f"{variant.name} b={shape.batch} L={shape.seq_len}")
            tol = variant_tolerance(variant, dtype)
            base = _row_fields(variant, shape, dname, dtype)
            try:
                y, s = _run(variant, inp, shape.chunk_size)
                dec = decode_consistency(variant, inp, shape.chunk_size, y, s) if variant.step else None
            except Exception as exc:  # one failing variant must not hide the others
                oom = is_out_of_memory(exc)
                rows.append(CheckRow(**base, max_abs_err=None, rel_err=None, state_rel_err=None,
                                     decode_rel_err=None, status="error: out of memory" if oom
                                     else f"error: {first_line(exc)}"))
                if oom:
                    _release(device)
                continue
            max_abs = (y.double() - y_ref).abs().max().item()
            rel, srel = _rel(y, y_ref), _rel(s, s_ref)
            finite = all(math.isfinite(v) for v in (max_abs, rel, srel))
            decode_ok = dec is None or (math.isfinite(dec) and dec <= tol)
            if variant.exact:
                status = "pass" if finite and rel <= tol and srel <= tol and decode_ok else "FAIL"
            else:
                status = "reported" if finite and decode_ok else "FAIL"
            rows.append(CheckRow(**base, max_abs_err=max_abs, rel_err=rel, state_rel_err=srel,
                                 decode_rel_err=dec, status=status))
            del y, s
    return rows


def _row_fields(variant: Variant, shape: Shape, dname: str, dtype: torch.dtype) -> Dict[str, Any]:
    """The columns a :class:`CheckRow` of ``variant`` at ``shape`` has whatever its outcome."""
    return dict(variant=variant.name, exact=variant.exact, dtype=dname, batch=shape.batch, seq_len=shape.seq_len,
                heads=shape.heads, head_dim=shape.head_dim, groups=shape.groups, state=shape.state,
                chunk_size=shape.chunk_size, chunks=shape.chunks, tolerance=variant_tolerance(variant, dtype))


def _release(device: str) -> None:
    """Hand the allocator's cached blocks back after an allocation failed (GPU)."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def failed(rows: Iterable[CheckRow]) -> List[CheckRow]:
    """Rows whose status is a failure or an error."""
    return [r for r in rows if r.status == "FAIL" or r.status.startswith("error")]
