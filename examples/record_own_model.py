"""Profile a model of your own with bambaprof, then read the run back: analyze, compare, report.

    python examples/record_own_model.py [--runs traces] [--steps 8]

Runs on the CPU or, when one is visible, a CUDA GPU. The model is a small Mamba2-style block written here
(a gated projection, a causal depthwise convolution and a running state), not one of bambaprof's.
"""

from __future__ import annotations

import argparse

import torch

import bambaprof


class TinyMamba2Block(torch.nn.Module):
    """in_proj -> causal depthwise conv + SiLU -> a scanned decay state -> gate -> out_proj."""

    def __init__(self, d_model: int = 256, expand: int = 2, conv: int = 4) -> None:
        super().__init__()
        inner = d_model * expand
        self.in_proj = torch.nn.Linear(d_model, 2 * inner, bias=False)
        self.conv = torch.nn.Conv1d(inner, inner, conv, groups=inner, padding=conv - 1)
        self.decay = torch.nn.Parameter(torch.rand(inner) * 0.5 + 0.4)
        self.out_proj = torch.nn.Linear(inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, length, d_model)
        u, z = self.in_proj(x).chunk(2, dim=-1)
        u = torch.nn.functional.silu(self.conv(u.transpose(1, 2))[..., : x.shape[1]]).transpose(1, 2)
        weights = self.decay ** torch.arange(x.shape[1], 0, -1, device=x.device, dtype=x.dtype)[:, None]
        y = torch.cumsum(u * weights, dim=1) / weights  # h_t = decay * h_{t-1} + u_t, in closed form
        return self.out_proj(y * torch.nn.functional.silu(z))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="traces", help="folder the run directory goes into")
    parser.add_argument("--steps", type=int, default=8, help="steps to run (1 warm-up, 2 profiled, the rest timed)")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = TinyMamba2Block().to(device)
    x = torch.randn(2, 128, 256, device=device)
    with torch.no_grad(), bambaprof.record("tiny-mamba2-block", out=args.runs, tokens_per_step=2 * 128) as run:
        for _ in range(args.steps):
            model(x)
            run.step()

    m = run.manifest
    print(f"run directory: {run.path}")
    print(f"median step: {m.timings.latency_ms.median:.3f} ms over {m.timings.latency_ms.n} steps, "
          f"{m.timings.throughput_tokens_per_s:,.0f} tokens/s on {m.device.name}")
    if m.telemetry.notice:
        print(f"telemetry: {m.telemetry.notice}")
    analysis = bambaprof.analyze(run.path)
    top = sorted(analysis.ops, key=lambda op: -op["cpu_self_us"])[:3]
    print("most CPU self time: " + ", ".join(f"{op['name']} {op['cpu_self_us']:.0f} us" for op in top))
    print(f"report: {bambaprof.report([run.path], run.path.parent / 'tiny-mamba2-block.html')}")


if __name__ == "__main__":
    main()
