"""The SSD core contract and the model, on the CPU, in a few seconds.

    python examples/quickstart.py
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # Triton variants on the CPU (set before Triton is imported)

import torch  # noqa: E402

from bambaprof.model import build_model, generate, preset  # noqa: E402
from bambaprof.ssm import get_variant, list_variants  # noqa: E402

torch.manual_seed(0)
b, L, h, p, g, n, chunk = 2, 100, 8, 16, 2, 16, 32
x, dt = torch.randn(b, L, h, p), torch.randn(b, L, h)
A, B, C = -torch.rand(h) * 8 - 1, torch.randn(b, L, g, n), torch.randn(b, L, g, n)
D, dt_bias = torch.randn(h), torch.randn(h) - 3

y_ref, s_ref = get_variant("reference")(x, dt, A, B, C, chunk, D=D, dt_bias=dt_bias, dt_softplus=True,
                                        return_final_state=True)
for variant in list_variants():
    y, s = variant(x, dt, A, B, C, chunk, D=D, dt_bias=dt_bias, dt_softplus=True, return_final_state=True)
    err = ((y - y_ref).norm() / y_ref.norm()).item()
    print(f"{variant.name:18s} {'exact' if variant.exact else 'approx':6s} rel err vs reference {err:.2e}")

model = build_model(preset("tiny"), variant="default", seed=0)
prompt = torch.randint(0, model.config.vocab_size, (1, 24))
cached = generate(model, prompt, new_tokens=8, use_cache=True)
recomputed = generate(model, prompt, new_tokens=8, use_cache=False)
print("greedy tokens (cache):   ", cached.tokens[0, 24:].tolist())
print("greedy tokens (no cache):", recomputed.tokens[0, 24:].tolist())
