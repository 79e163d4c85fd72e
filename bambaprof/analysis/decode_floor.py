"""How far cached generation's tokens are from the hardware's limit (a ``bambaprof profile --workload generate``
run; times in ms, bytes).

A decode step (one new token for every sequence of the batch, with the cache) must read every weight the token
passes through once, and each sequence's cache: a Mamba layer's SSM state (float32, read and written) and conv
state (read, one column written), an attention layer's keys and values of every earlier token (read, one token's
written). Its *floor* is those bytes at the device's peak bandwidth, or the step's FLOPs (two a weight element
and sequence) at its peak matmul rate where that is longer: no implementation does less. Weights are counted from
the run's model configuration as :func:`bambaprof.run.model_shapes.weight_params` counts them (norm weights left
out: a lower bound within 0.3% on the presets), less the input embedding table, whose one row a token reads (a
tied table is read whole by the LM head and stays). The context of the cache is the mean over the generated
tokens (prompt plus half the new tokens).

:func:`decode_floor_summary` sets the run's median time between tokens (``timings.inter_token_ms``, wall time) against
it: ``decode_token_ms``, ``decode_floor_ms``, ``decode_floor_x`` (their ratio), ``decode_weight_bytes`` and
``decode_cache_bytes`` (a step's), ``decode_batch``, ``decode_bound`` (``bandwidth`` or ``compute``: which floor is
longer) and ``decode_peak_gbps``. All None for anything but a cached ``generate`` run with a known peak bandwidth
(a CPU run knows none) and a model configuration it can read.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

from ..run.model_shapes import ModelShapes, weight_params
from .peaks import PeakCompute

#: The summary's figures (:func:`decode_floor_summary`).
SUMMARY_KEYS = ("decode_token_ms", "decode_floor_ms", "decode_floor_x", "decode_weight_bytes", "decode_cache_bytes",
                "decode_batch", "decode_bound", "decode_peak_gbps")
#: The SSM state's bytes an element (bambaprof's cache keeps it in float32 or wider).
SSM_STATE_BYTES = 4


def decode_floor_summary(manifest: Any, peak_gbps: Optional[float], compute: Optional[PeakCompute]) -> Dict[str, Any]:
    """The run's decode step against its floor (see the module's description); ``peak_gbps``: the run's peak DRAM
    bandwidth (GB/s), ``compute``: its peak matmul rates (None: the bytes alone)."""
    out: Dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    cfg = getattr(manifest, "config", None)
    timings = getattr(manifest, "timings", None)
    spread = getattr(timings, "inter_token_ms", None)
    token_ms = getattr(spread, "median", None)
    if cfg is None or cfg.workload != "generate" or not cfg.use_cache or not isinstance(token_ms, (int, float)) \
            or not math.isfinite(token_ms) or token_ms <= 0 or not peak_gbps or peak_gbps <= 0:
        return out
    model = ModelShapes.from_record(getattr(manifest, "model", None))
    if model is None:
        return out
    element = model.element_bytes  # every field validated: positive counts, a known dtype
    tflops = compute.for_dtype("fp32" if element >= 4 else "bf16") if compute is not None else None
    weights = float(weight_params(model, mixer_only=False) * element)
    if not model.tie_word_embeddings:
        weights -= model.vocab_size * model.hidden_size * element  # the input table: one row a token
    batch = max(int(cfg.batch), 1)
    context = cfg.seq_len + (cfg.new_tokens - 1) / 2.0
    cache = batch * _cache_bytes(model, element, context)
    floor_s = (weights + cache) / (peak_gbps * 1e9)
    compute_s = 2.0 * weights / element * batch / (tflops * 1e12) if tflops and tflops > 0 else 0.0
    floor_ms = 1e3 * max(floor_s, compute_s)
    if not math.isfinite(floor_ms) or floor_ms <= 0 or weights <= 0 or cache < 0:
        return out
    out.update(decode_token_ms=float(token_ms), decode_floor_ms=floor_ms, decode_floor_x=float(token_ms) / floor_ms,
               decode_weight_bytes=float(weights), decode_cache_bytes=float(cache), decode_batch=batch,
               decode_bound="compute" if compute_s > floor_s else "bandwidth", decode_peak_gbps=float(peak_gbps))
    return out


def _cache_bytes(c: ModelShapes, element: int, context: float) -> float:
    """One sequence's cache traffic in a decode step (bytes; see the module's description)."""
    types = c.layer_types()
    mamba = sum(1 for t in types if t != "attention")
    attention = len(types) - mamba
    ssm = 2 * c.mamba_n_heads * c.mamba_d_head * c.mamba_d_state * SSM_STATE_BYTES
    conv = c.conv_dim * (c.mamba_d_conv + 1) * element
    kv = 2 * c.num_key_value_heads * c.head_dim * (context + 1) * element
    return float(mamba * (ssm + conv) + attention * kv)
