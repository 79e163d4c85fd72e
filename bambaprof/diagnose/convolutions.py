"""Rule on depthwise convolutions run by ATen's generic kernels, the causal conv1d of Mamba mixers among them
(:mod:`bambaprof.analysis.convolutions`).

The rule reads an :class:`~bambaprof.analysis.Analysis` and returns a :class:`~.finding.Finding` or None; its
thresholds are the named constants here (in the README).
"""

from __future__ import annotations

from typing import Any, Optional

from .finding import FAR_FROM_ROOFLINE_X, Finding, gpu_window_us, kernel_total, severity_of, us_text

#: depthwise-conv: ATen's depthwise kernels take at least this share of kernel time ...
DEPTHWISE_CONV_PCT = 5.0
# ... and run at least FAR_FROM_ROOFLINE_X times their floor (where it is known).


def depthwise_conv(a: Any) -> Optional[Finding]:
    """Depthwise convolutions on ATen's generic kernels (forward and backward) take at least
    :data:`DEPTHWISE_CONV_PCT` of kernel time, their forward calls at least ``FAR_FROM_ROOFLINE_X`` times their
    floor where it is known. Time at stake: the forward calls' time above their floor (none claimed where no floor
    is known). Advice: for a causal conv1d (a Mamba mixer's), causal-conv1d's fused kernel; else torch.compile."""
    rows = [r for r in getattr(a, "depthwise_convs", None) or () if r.get("gpu_us")]
    total = kernel_total(a)
    time = sum(r["gpu_us"] for r in rows)
    if not rows or total <= 0 or 100.0 * time / total < DEPTHWISE_CONV_PCT:
        return None
    judged = [r for r in rows if r["floor_us"] is not None and r["floor_us"] > 0]
    floor = sum(r["floor_us"] for r in judged)
    judged_time = sum(r["gpu_us"] for r in judged)
    if judged and judged_time < FAR_FROM_ROOFLINE_X * floor:
        return None
    top = rows[0]
    causal = [r for r in rows if r["kind"] == "causal conv1d"]
    calls = sum(r["count"] for r in rows)
    what = (f"{top['op']} of {top['input']} by {top['weight']} ({top['dtype']}, padding {top['padding']}"
            f"{', a causal conv1d' if top['kind'] == 'causal conv1d' else ''})" if top["input"] else str(top["op"]))
    msg = (f"{calls} depthwise convolution call{'s' if calls != 1 else ''} ran ATen's generic kernels "
           f"({top['kernels']}): {us_text(time)}, {100 * time / total:.0f}% of kernel time"
           + (f"; the forward calls {judged_time / floor:,.1f}x their floor ({us_text(floor)}: input, weight and "
              "output moved once)" if judged else "")
           + f". The largest: {what}, {top['count']} call{'s' if top['count'] != 1 else ''}, {us_text(top['gpu_us'])}.")
    if causal:
        m = getattr(a, "manifest", None)
        variant = m.config.variant if m is not None and m.config is not None else None
        ours = ("this run's triton variant ran torch's conv, so it predates the variant's fused conv1d + SiLU kernel "
                "or ran without it: profile it again" if variant == "triton" else
                f"bambaprof's triton variant runs its own fused conv1d + SiLU: profile it beside this one (bambaprof "
                f"profile --variant {variant} --variant triton)" if variant else
                "bambaprof's triton variant runs its own (bambaprof profile --variant triton)")
        suggestion = ("This is a Mamba mixer's causal conv1d: run it with causal-conv1d's fused kernel "
                      "(causal_conv1d_fn(x, weight, bias, activation='silu'), what mamba_ssm uses; it takes the SiLU "
                      f"that follows too, and causal_conv1d_update steps it with the conv state in decode); {ours}.")
    else:
        suggestion = ("Compile the model (torch.compile generates a fused Triton kernel for a depthwise convolution and "
                      "the elementwise ops around it), or compare channels_last inputs, which cuDNN's depthwise kernels "
                      "take.")
    at_stake = max(0.0, judged_time - floor) if judged else None
    evidence = [dict(r) for r in rows[:8]]
    return Finding("depthwise-conv", severity_of(at_stake if at_stake is not None else time, gpu_window_us(a)), msg,
                   evidence, suggestion, at_stake)
