"""Random SSD inputs for tests, and the Gluon scan's forms by option."""

import torch

#: Where the variant tests run: the GPU when there is one (Triton kernels need CUDA tensors
#: there), else the CPU (Triton through its interpreter).
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def ssd_inputs(b=2, L=37, h=4, p=8, g=2, n=16, dtype=torch.float64, seed=0, device=DEVICE,
               initial_state=False, with_D=True, with_bias=True):
    gen = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    inp = dict(
        x=r(b, L, h, p).to(dtype),
        dt=(0.5 * r(b, L, h)).to(dtype),
        A=-(0.5 + 4 * torch.rand(h, generator=gen, dtype=torch.float64)),
        B=r(b, L, g, n).to(dtype),
        C=r(b, L, g, n).to(dtype),
        D=r(h) if with_D else None,
        dt_bias=r(h) - 2.0 if with_bias else None,
        initial_state=r(b, h, p, n) if initial_state else None,
    )
    return {k: (v.to(device) if v is not None else None) for k, v in inp.items()}


def rel_err(a, ref):
    a, ref = a.double(), ref.double()
    return ((a - ref).norm() / ref.norm()).item()


def run(variant, inp, chunk, **kw):
    return variant(inp["x"], inp["dt"], inp["A"], inp["B"], inp["C"], chunk, D=inp["D"],
                   dt_bias=inp["dt_bias"], initial_state=inp["initial_state"], return_final_state=True, **kw)


def gluon_forms(option, present=True):
    """The Gluon scan's forms (``ssd_sm90.FORMS``), sorted, that set ``option`` (or, with ``present`` false, that
    do not)."""
    from bambaprof.ssm.kernels import ssd_sm90

    return sorted(form for form, options in ssd_sm90.FORMS.items() if bool(options.get(option)) == present)
