"""Named ranges around the parts of the model and of the SSD cores, so that ``analyze`` can attribute GPU time
to them (its phases).

``phase("in_proj")`` is a ``torch.profiler.record_function`` range while a profiler is recording, and nothing
otherwise: checking costs about 0.1 us, where an idle ``record_function`` costs several (measured 8 us on a
CI-class CPU), which matters for launch-bound decoding. Inside code that ``torch.compile`` traces it is
nothing too (a range there would cost a graph break); the kernels of a compiled region are attributed to the
ranges around it.

The names: ``layer.<i>`` (a decoder layer), ``mixer`` (Mamba2) or ``attention``, ``mlp``, ``norm``; inside the
mixer ``in_proj``, ``conv``, ``ssd`` (the core; ``ssd_decode`` for a cached step), ``gated_norm``,
``out_proj`` (a cached token of the ``triton`` variant: ``decode_step``, conv and SSM step in one launch);
``embed`` and ``lm_head`` around the layers; ``sample`` (the greedy choice of the next token);
``cache_copy`` (under CUDA graphs, the cache copied out of the graph pool after each step). Inside ``ssd`` the
cores mark their own steps: the chunked scan (``default``, ``default-optimized``, ``independent``) ``prep``,
``intra_chunk``, ``chunk_states``, ``state_passing``, ``inter_chunk``; the Triton one (``triton``)
``chunk_prep`` and ``chunk_scan`` (chunk states, their passing and the outputs in one kernel).

It lives outside :mod:`bambaprof.model` and :mod:`bambaprof.ssm` because both use it.
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import torch

#: Whether the PyTorch profiler records (a C function: the cheapest check on a launch's path).
profiler_enabled = torch._C._autograd._profiler_enabled
_NULL = contextlib.nullcontext()


def phase(name: str) -> ContextManager[Any]:
    """A profiler range named ``name`` when a profiler records and no compiler traces, else a no-op."""
    if torch.compiler.is_compiling() or not profiler_enabled():
        return _NULL
    return torch.profiler.record_function(name)
