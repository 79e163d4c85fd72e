"""Matrix products of one input run one after another: projections whose weights could be stacked (times in us).

Attention's query, key and value projections read the same hidden state, as an MLP's gate and up projections do.
Run as separate products (``q_proj(x)``, ``k_proj(x)``, ``v_proj(x)``), each is a launch, a pass over ``x`` and, for
the few rows of a decode step, a kernel too small to fill the GPU; stacked (one weight of all their output rows,
``torch.cat([w_q, w_k, w_v])``, the output split after), they are one product of the same work.

A *run* is two or more matrix products (``aten::linear``, ``aten::matmul``, ``aten::mm``, ``aten::addmm``; the
outermost where one calls another) called one after another by the same op or range (or at the top of one thread),
with nothing between them that launched GPU work (views and reshapes may come between; in a CPU-only trace only
ops that make views), whose activations have the same shape and dtype, and whose second operands are matrices
(weights) of the activation's inner size. Products that autograd's backward pass calls are left out (a node's
gradient products read other operands), and so is a run in which every product's output has the shape of the next
one's input (``N = K``: square weights), which may be a chain of layers each reading the last one's output: one
product whose weight is not square tells (attention's key and value projections with fewer heads than the query's;
the gate and up projections). Attention's query, key and value projections of as many heads each are square, and
are not found. The trace does not say whether the products read the same tensor: two inputs of one shape computed
earlier would pass too, and such products cannot be stacked.

Runs of the same caller, activation, dtype and weights are one row: ``caller``, ``shape`` (the activation's),
``dtype``, ``weights`` (each ``N x K``, in order), ``products`` (a run's), ``runs``, ``launches`` (GPU kernels),
``cpu_us`` (the products' host time), ``gpu_us`` (their kernels'), ``mean_us`` (a product's GPU time),
``floor_us`` (their roofline floors summed: ``M x K`` and ``K x N`` read, ``M x N`` written once each, or
``2 M K N`` FLOPs, the longer) and ``stacked_floor_us`` (one product of the stacked weights: the activation read
once), and ``at_stake_us``: the most GPU time stacking could save, each run's time less the longer of its longest
product and the stacked floor (a stacked product does at least each part's work and at least its floor). GPU
figures are None without GPU activity, floors without a peak or the element size.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .autograd import EVALUATE_FUNCTION
from .generation import WEIGHT_OPS
from .ops import _subtree_sums, nearest_marked, op_callers, op_gpu_time, op_parents, rows_named
from .roofline import floor_time_us, op_dtype
from .trace import Trace, value_codes
from .traffic import DTYPE_BYTES, DTYPE_NAMES, is_shape

#: The matrix products a projection calls (``nn.Linear``: ``aten::linear``, which calls ``addmm`` or ``matmul``): the
#: ops that apply a weight, as :mod:`.generation` reads them.
PRODUCT_OPS = frozenset(WEIGHT_OPS)
#: Ops that only make views: what may come between the products of a run in a trace without GPU activity.
VIEW_OPS = frozenset({"aten::view", "aten::reshape", "aten::_unsafe_view", "aten::transpose", "aten::t",
                      "aten::permute", "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::as_strided",
                      "aten::split", "aten::split_with_sizes", "aten::chunk", "aten::slice", "aten::select",
                      "aten::detach", "aten::alias", "aten::view_as", "aten::unflatten", "aten::flatten",
                      "aten::narrow", "aten::empty", "aten::empty_strided"})
#: An autograd node's op (``AddmmBackward0``): its products are a gradient's.
_BACKWARD_NODE = re.compile(r"Backward\d*$")
#: A row's keys, in the order tables show them.
ROW_KEYS = ("caller", "shape", "dtype", "weights", "products", "runs", "launches", "cpu_us", "gpu_us", "mean_us",
            "floor_us", "stacked_floor_us", "at_stake_us")


def product_operands(op: str, dims: Any) -> Optional[Tuple[List[int], int, int]]:
    """``(activation shape, K, N)`` of a product whose second operand is a weight matrix: ``linear(x, w[N, K])``,
    ``addmm(bias, x[M, K], w[K, N])``, ``mm``/``matmul(x[..., K], w[K, N])``; None where the shapes are not that."""
    if not isinstance(dims, list):
        return None
    a_at, b_at = WEIGHT_OPS[op]
    if len(dims) <= b_at or not is_shape(dims[a_at]) or len(dims[a_at]) < 2 or not is_shape(dims[b_at]) \
            or len(dims[b_at]) != 2:
        return None
    a, b = dims[a_at], dims[b_at]
    k, n = (b[1], b[0]) if op == "aten::linear" else (b[0], b[1])
    if a[-1] != k or (op in ("aten::addmm", "aten::mm") and len(a) != 2):
        return None
    return list(a), k, n


def backward_ops(trace: Trace, parent: np.ndarray) -> np.ndarray:
    """Whether each op ran in autograd's backward pass: inside an ``evaluate_function`` range or a node's op
    (``AddmmBackward0``)."""
    codes, names = value_codes(trace, "ops.name")
    if not len(names):
        return np.zeros(len(trace.ops), dtype=bool)
    backward = np.array([str(n).startswith(EVALUATE_FUNCTION) or bool(_BACKWARD_NODE.search(str(n))) for n in names],
                        dtype=bool)[codes]
    return nearest_marked(parent, backward) >= 0


def forward_products(trace: Trace) -> List[int]:
    """The calls of :data:`PRODUCT_OPS` by start that no product encloses (``linear`` rather than the ``addmm`` it
    calls) and that autograd's backward did not call (a node's gradient products read other operands). Computed once
    a trace (kept in :attr:`Trace.memo`): the projections and the prefill logits both read them."""
    memo = trace.memo.get(("forward products",))
    if memo is not None:
        return memo
    rows = rows_named(trace, PRODUCT_OPS)
    parent = op_parents(trace)
    codes, names = value_codes(trace, "ops.name")
    is_product = np.isin(codes, [c for c, n in enumerate(names) if n in PRODUCT_OPS])
    enclosing = nearest_marked(parent, is_product)
    up = np.where(parent >= 0, enclosing[np.maximum(parent, 0)], -1)
    in_backward = backward_ops(trace, parent)
    found = [r for r in rows.tolist() if up[r] < 0 and not in_backward[r]]
    trace.memo[("forward products",)] = found
    return found


def projection_table(trace: Trace, peak_gbps: Optional[float],
                     tflops_for: Callable[[Optional[str]], Optional[float]]) -> Optional[List[Dict[str, Any]]]:
    """The runs of products of one activation shape (see the module's docstring), grouped into rows, most time at
    stake (then GPU, then host time) first; None where the trace holds no CPU ops or no shapes."""
    ops = trace.ops
    if not len(ops) or not ops.shapes_recorded:
        return None
    outermost = forward_products(trace)
    if not outermost:
        return []
    parent = op_parents(trace)
    codes, names = value_codes(trace, "ops.name")
    on_gpu = len(trace.gpu) > 0
    gpu_time = op_gpu_time(trace) if on_gpu else None
    launches = None
    if on_gpu:
        own = np.bincount(trace.gpu_op_row[(trace.gpu_op_row >= 0) & (trace.gpu.kind == "kernel")],
                          minlength=len(ops))[:len(ops)]
        launches = _subtree_sums(parent, own)
    view_codes = [c for c, n in enumerate(names) if n in VIEW_OPS]
    # every op the products' callers called, by caller then start
    caller_of = op_callers(trace)
    siblings = np.flatnonzero(np.isin(caller_of, list({int(caller_of[r]) for r in outermost})))
    siblings = siblings[np.lexsort((ops.ts[siblings], caller_of[siblings]))]
    products = set(outermost)
    groups: Dict[tuple, Dict[str, Any]] = {}
    run: List[Tuple[int, Tuple[List[int], int, int]]] = []
    run_key: Optional[tuple] = None

    def close() -> None:
        # a run whose every product's output has the shape of the next one's input may be a chain of layers (each
        # reading the last one's output), which stacking cannot do: one link that cannot chain (N != K) tells
        if len(run) >= 2 and any(n != k for _, (_, k, n) in run[:-1]):
            _add_run(groups, trace, run, gpu_time, launches, peak_gbps, tflops_for)
        run.clear()

    last_caller = None
    for s in siblings.tolist():
        c = int(caller_of[s])
        if c != last_caller:
            close()
            run_key, last_caller = None, c
        if s in products:
            operands = product_operands(ops.name[s], ops.input_dims[s])
            types = ops.input_types[s]
            key = (tuple(operands[0]), operands[1], float_type(types)) if operands else None
            if key is None or key != run_key:
                close()
            run_key = key
            if key is not None:
                run.append((s, operands))
            continue
        transparent = (gpu_time[s] == 0.0) if gpu_time is not None else int(codes[s]) in view_codes
        if not transparent:
            close()
            run_key = None
    close()
    out = list(groups.values())
    for g in out:
        g["mean_us"] = g["gpu_us"] / (g["products"] * g["runs"]) if g["gpu_us"] is not None else None
    return sorted(out, key=lambda g: (-(g["at_stake_us"] or 0.0), -(g["gpu_us"] or 0.0), -g["cpu_us"], g["caller"]))


def float_type(types: Any) -> Optional[str]:
    """The Kineto type name of a product's first floating-point input."""
    if not isinstance(types, list):
        return None
    return next((t for t in types if isinstance(t, str) and t in DTYPE_BYTES and op_dtype([t])), None)


def _add_run(groups: Dict[tuple, Dict[str, Any]], trace: Trace, run: List[Tuple[int, Tuple[List[int], int, int]]],
             gpu_time: Optional[np.ndarray], launches: Optional[np.ndarray], peak_gbps: Optional[float],
             tflops_for: Callable[[Optional[str]], Optional[float]]) -> None:
    """Adds one run (its product rows and operands) to its row."""
    ops = trace.ops
    first = run[0][0]
    shape, k, _ = run[0][1]
    dtype = float_type(ops.input_types[first])
    weights = tuple(n for _, (_, _, n) in run)
    p = int(op_parents(trace)[first])
    caller = ops.name[p] if p >= 0 else "(top level)"
    key = (caller, tuple(shape), dtype, weights)
    g = groups.get(key)
    if g is None:
        g = groups[key] = {"caller": caller, "shape": "x".join(str(d) for d in shape),
                           "dtype": DTYPE_NAMES.get(dtype or "", dtype), "weights": ", ".join(f"{n}x{k}" for n in weights),
                           "products": len(run), "runs": 0, "launches": None, "cpu_us": 0.0, "gpu_us": None,
                           "mean_us": None, "floor_us": None, "stacked_floor_us": None, "at_stake_us": None}
    g["runs"] += 1
    g["cpu_us"] += float(sum(ops.dur[r] for r, _ in run))
    if gpu_time is None or launches is None:
        return
    times = [float(gpu_time[r]) for r, _ in run]
    g["gpu_us"] = (g["gpu_us"] or 0.0) + sum(times)
    g["launches"] = (g["launches"] or 0) + int(sum(launches[r] for r, _ in run))
    size = DTYPE_BYTES.get(dtype or "")
    if not peak_gbps or size is None:
        return
    m = math.prod(shape[:-1])
    tflops = tflops_for(op_dtype([dtype]))
    floors = [floor_time_us(size * (m * k + k * n + m * n), 2.0 * m * k * n, peak_gbps, tflops) for n in weights]
    total_n = sum(weights)
    stacked = floor_time_us(size * (m * k + k * total_n + m * total_n), 2.0 * m * k * total_n, peak_gbps, tflops)
    g["floor_us"] = (g["floor_us"] or 0.0) + sum(floors)
    g["stacked_floor_us"] = (g["stacked_floor_us"] or 0.0) + stacked
    g["at_stake_us"] = (g["at_stake_us"] or 0.0) + max(0.0, sum(times) - max(max(times), stacked))


def projection_summary(rows: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """``projection_runs`` (runs of products of one input shape, all rows) and ``projection_at_stake_us`` (None
    without GPU figures); both None where the table could not be made."""
    if rows is None:
        return {"projection_runs": None, "projection_at_stake_us": None}
    stakes = [r["at_stake_us"] for r in rows if r["at_stake_us"] is not None]
    return {"projection_runs": sum(r["runs"] for r in rows),
            "projection_at_stake_us": sum(stakes) if stakes or not rows else None}


