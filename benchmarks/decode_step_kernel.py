"""GPU time of the fused decode step (``mixer_decode_step``) against another form of its kernel, side by side.

Bamba-9B mixer at one token (b=1, 128 heads of 64, state 128, one group, conv width 4), bf16, fp32 state. The
other form is a copy of ``bambaprof/ssm/kernels/mixer.py`` with absolute imports and without the
torch.library registrations (e.g. ``.peers/mixer_state_first.py``: the state tile and the step's scalars
loaded before the ticket). Both forms first take the same step from the same states and must agree bit for
bit (y, conv state, SSM state); then each is timed by the profiler's kernel time in interleaved rounds
(``bambaprof.bench.ssd.kernel_time``, 50 calls a batch).

    python benchmarks/decode_step_kernel.py --form .peers/mixer_state_first.py [-o out.json]
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys

import torch

sys.path.insert(0, ".")
from bambaprof._env import environment  # noqa: E402
from bambaprof.bench.ssd import kernel_time  # noqa: E402
from bambaprof.ssm.kernels import mixer  # noqa: E402


def _load(path: str):
    spec = importlib.util.spec_from_file_location("other_mixer_form", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    out_path = sys.argv[sys.argv.index("-o") + 1] if "-o" in sys.argv else None
    form_path = sys.argv[sys.argv.index("--form") + 1]
    other = _load(form_path)
    torch.manual_seed(0)
    b, H, P, N, G, K = 1, 128, 64, 128, 1, 4
    conv_dim = H * P + 2 * G * N
    dev, bf16 = "cuda", torch.bfloat16
    xbc = torch.randn(b, conv_dim, device=dev, dtype=bf16)
    dt = torch.randn(b, H, device=dev, dtype=bf16)
    conv0 = torch.randn(b, conv_dim, K, device=dev, dtype=bf16)
    w = torch.randn(conv_dim, 1, K, device=dev, dtype=bf16) * 0.5
    cb = torch.randn(conv_dim, device=dev, dtype=bf16)
    ssm0 = torch.randn(b, H, P, N, device=dev)
    A_log = torch.randn(H, device=dev).clamp(-2, 1)
    D = torch.randn(H, device=dev)
    dt_bias = torch.randn(H, device=dev)
    modules = {"committed": mixer, "other": other}
    forms = {name: m.mixer_decode_step for name, m in modules.items()}
    # position 7, as each form counts its programs (a form may split the heads into other row blocks)
    state = {name: (conv0.clone(), ssm0.clone(),
                    torch.full((1,), 7 * m.decode_programs(b, H, P), device=dev, dtype=torch.int64))
             for name, m in modules.items()}

    def step(name):
        conv, ssm, counter = state[name]
        return forms[name](xbc, dt, conv, w, cb, ssm, counter, A_log, D, dt_bias, 0.0, float("inf"), H, G)

    ys = {name: step(name) for name in forms}
    same = all(torch.equal(ys["committed"], ys["other"])
               and torch.equal(state["committed"][i], state["other"][i]) for i in range(3))
    print("the two forms agree bit for bit:", same, flush=True)
    times = {name: [] for name in forms}
    for r in range(5):
        for name in (forms if r % 2 == 0 else list(forms)[::-1]):
            times[name].append(kernel_time(lambda: step(name), calls=50).ms * 1e3)  # noqa: B023
    med = {name: statistics.median(v) for name, v in times.items()}
    print("kernel us a step (median of 5 rounds):", {k: round(v, 2) for k, v in med.items()},
          "ratio other/committed %.3f" % (med["other"] / med["committed"]), flush=True)
    state_mb = b * H * P * N * 4 / 1e6
    doc = {"what": __doc__.split("\n\n")[0], "environment": environment("cuda"), "shape": {
        "b": b, "heads": H, "head_dim": P, "d_state": N, "groups": G, "d_conv": K, "dtype": "bfloat16"},
        "form": form_path, "bit_equal": same, "kernel_us": med, "rounds_us": times,
        "ratio_other_over_committed": med["other"] / med["committed"],
        "ssm_state_mb_read_and_written": 2 * state_mb}
    if out_path:
        with open(out_path, "w") as f:
            json.dump(doc, f, indent=1)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
