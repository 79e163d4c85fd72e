"""The Mamba2 mixer block, with a pluggable SSD core.

``in_proj`` -> (gate z, conv input xBC, dt); depthwise causal ``conv1d`` over
xBC; SiLU; split into x, B, C; the SSD core (a :class:`~bambaprof.ssm.Variant`);
gated RMSNorm with z; ``out_proj``. A variant that brings fused mixer kernels
(``extra["fused_mixer"]``: ``triton``) runs the conv + SiLU and the gated norm as
one Triton kernel each (:mod:`bambaprof.ssm.kernels.mixer`). With a cache, a prefill records the conv
inputs and the final SSM state, and later single-token calls use the
variant's decode step; the fused variant's tokens instead take one launch for conv, SiLU and the SSM step
(``mixer_decode_step``), with both states updated in place.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import BambaprofError
from ..ranges import phase
from ..ssm import Variant
from ..ssm.capabilities import check_triton_device
from .cache import MambaLayerCache
from .config import BambaConfig
from .norm import RMSNormGated
from .norm import fused_kernels as _fused


class Mamba2Mixer(nn.Module):
    """One Mamba2 mixer; ``variant`` is the SSD core it calls."""

    def __init__(self, config: BambaConfig, variant: Variant) -> None:
        super().__init__()
        self.variant = variant
        self.n_heads = config.mamba_n_heads
        self.head_dim = config.mamba_d_head
        self.n_groups = config.mamba_n_groups
        self.d_state = config.mamba_d_state
        self.d_conv = config.mamba_d_conv
        self.chunk_size = config.mamba_chunk_size
        self.intermediate = config.mamba_intermediate
        self.conv_dim = config.conv_dim
        self.dt_limit = tuple(config.time_step_limit)
        self.in_proj = nn.Linear(
            config.hidden_size, self.intermediate + self.conv_dim + self.n_heads, bias=config.mamba_proj_bias
        )
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, kernel_size=self.d_conv, groups=self.conv_dim,
            padding=self.d_conv - 1, bias=config.mamba_conv_bias,
        )
        self.dt_bias = nn.Parameter(torch.zeros(self.n_heads))
        self.A_log = nn.Parameter(torch.zeros(self.n_heads))
        self.D = nn.Parameter(torch.ones(self.n_heads))
        self.norm = RMSNormGated(self.intermediate, eps=config.rms_norm_eps)
        self.out_proj = nn.Linear(self.intermediate, config.hidden_size, bias=config.mamba_proj_bias)
        #: the variant's own fused conv1d + SiLU and gated RMSNorm kernels (``triton``); the study's variants
        #: keep torch's conv and norm, the baselines it measured
        self.fused = bool(variant.extra.get("fused_mixer"))
        #: cached decoding through the fused one-launch step (the triton variant); settable to compare
        self.fused_decode = self.fused
        self._A_kept: Optional[tuple] = None  # (key of A_log's state, A) for the fused mixer, see _A

    @torch.no_grad()
    def init_ssm_parameters(self, config: BambaConfig, generator: torch.Generator) -> None:
        """Mamba2 initialisation: dt log-uniform in [time_step_min, time_step_max] stored as
        softplus-inverse in ``dt_bias``; ``A`` uniform in ``A_init_range`` stored as ``log A``; D = 1."""
        dev = self.dt_bias.device
        u = torch.rand(self.n_heads, generator=generator, device=dev, dtype=torch.float32)
        lo, hi = math.log(config.time_step_min), math.log(config.time_step_max)
        dt = torch.exp(u * (hi - lo) + lo).clamp(min=config.time_step_floor)
        self.dt_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        a_lo, a_hi = config.A_init_range
        A = torch.rand(self.n_heads, generator=generator, device=dev, dtype=torch.float32) * (a_hi - a_lo) + a_lo
        self.A_log.copy_(torch.log(A))
        self.D.fill_(1.0)

    def forward(self, hidden: torch.Tensor, cache: Optional[MambaLayerCache] = None, offset: int = 0,
                projected: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The mixer's output ``(b, L, hidden)`` for ``hidden`` ``(b, L, hidden)``; ``projected``: ``in_proj``'s
        output when the caller computed it (the decoder's norm and ``in_proj`` in one launch), ``hidden`` then
        giving only the shape and dtype."""
        b, L, _ = hidden.shape
        if self.fused and not hidden.is_cuda:  # its kernels run on the CPU only under the interpreter
            check_triton_device(self.variant.name, hidden)
        if projected is None:
            with phase("in_proj"):
                proj = self.in_proj(hidden)
        else:
            proj = projected
        # split_with_sizes: Tensor.split's Python wrapper costs host time on every decode token
        gate, xBC, dt = proj.split_with_sizes([self.intermediate, self.conv_dim, self.n_heads], dim=-1)
        decoding = cache is not None and cache.ssm_state is not None
        if decoding:
            if L != 1:
                raise BambaprofError("mixer: a multi-token step after a cached prefix is not supported")
            if cache.step_counter is not None:
                if self._norm_in_step(xBC, hidden, cache):  # the gated norm in the step's launch too
                    with phase("out_proj"):
                        return self.out_proj(self._decode_fused(xBC[:, 0], dt[:, 0], cache, gate[:, 0])[:, None])
                y = self._decode_fused(xBC[:, 0], dt[:, 0], cache)
            else:
                y = self._decode(xBC[:, 0], dt[:, 0], self._A(), cache, offset)[:, None]
        else:
            y = self._prefill(xBC, dt, self._A(), cache)
        with phase("gated_norm"):
            if self.fused and y.dtype == hidden.dtype:
                norm = _fused().gated_rmsnorm_op if torch.compiler.is_compiling() else _fused().gated_rmsnorm
                y = norm(y.reshape(b, L, self.intermediate), gate, self.norm.weight, self.norm.eps, hidden.dtype)
            else:
                y = self.norm(y.reshape(b, L, self.intermediate), gate).to(hidden.dtype)
        with phase("out_proj"):
            return self.out_proj(y)

    def _A(self) -> torch.Tensor:
        """``A = -exp(A_log)`` in float32 (h,). The fused mixer keeps it between calls (three launches and
        their host time fewer) while ``A_log`` is unchanged: same storage, dtype and version counter (an
        in-place update bumps it). It is recomputed under ``torch.compile``, during CUDA-graph capture (a
        replay then reads ``A_log`` as it is at replay) and when autograd records ``A_log``'s graph."""
        A_log = self.A_log
        if not self.fused or torch.compiler.is_compiling() or (torch.is_grad_enabled() and A_log.requires_grad) \
                or (A_log.is_cuda and torch.cuda.is_current_stream_capturing()):
            return -torch.exp(A_log.float())
        key = (A_log.data_ptr(), A_log._version, A_log.dtype, A_log.device)
        kept = self._A_kept
        if kept is None or kept[0] != key:
            kept = self._A_kept = (key, -torch.exp(A_log.float()))
        return kept[1]

    def _split_xbc(self, xBC: torch.Tensor):
        x, B, C = xBC.split([self.intermediate, self.n_groups * self.d_state, self.n_groups * self.d_state], dim=-1)
        lead = xBC.shape[:-1]
        return (
            x.reshape(*lead, self.n_heads, self.head_dim),
            B.reshape(*lead, self.n_groups, self.d_state),
            C.reshape(*lead, self.n_groups, self.d_state),
        )

    def _prefill(self, xBC: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, cache: Optional[MambaLayerCache]):
        L = xBC.shape[1]
        channels_first = xBC.transpose(1, 2)  # (b, conv_dim, L)
        with phase("conv"):
            if cache is not None:
                cache.conv_state = F.pad(channels_first, (max(self.d_conv - L, 0), 0))[..., -self.d_conv:].contiguous()
            if self.fused:  # launched directly when eager (an op's dispatch costs host time), as the op compiled
                conv = _fused().conv1d_silu_op if torch.compiler.is_compiling() else _fused().conv1d_silu
                xBC = conv(xBC, self.conv1d.weight, self.conv1d.bias)
            else:
                xBC = F.silu(self.conv1d(channels_first)[..., :L].transpose(1, 2))
        x, B, C = self._split_xbc(xBC)
        with phase("ssd"):
            y, final = self.variant(
                x, dt, A, B, C, self.chunk_size, D=self.D, dt_bias=self.dt_bias, dt_softplus=True,
                dt_limit=self.dt_limit, return_final_state=cache is not None,
            )
        if cache is not None:
            cache.ssm_state = final
            if self._fused_decode_applies(xBC, final):
                mixer = _fused()
                cache.conv_state = mixer.circular_conv_state(cache.conv_state, L)
                cache.ssm_state = final.contiguous()
                cache.step_counter = mixer.new_step_counter(xBC.shape[0], L, self.n_heads, self.head_dim,
                                                            xBC.device)
        return y

    def _fused_decode_applies(self, xBC: torch.Tensor, final: Optional[torch.Tensor]) -> bool:
        """Whether later tokens take the fused decode step: the ``triton`` variant's mixer kernels
        (``fused_decode``), model dtype not float64, a float32 SSM state."""
        return (self.fused_decode and final is not None and final.dtype == torch.float32
                and xBC.dtype in (torch.bfloat16, torch.float16, torch.float32))

    def _norm_in_step(self, xBC: torch.Tensor, hidden: torch.Tensor, cache: MambaLayerCache) -> bool:
        """Whether the eager decode step also applies the gated norm (one launch for both): the fused mixer,
        eager (compiled code keeps the step op and the norm op apart), the norm in the model's dtype and a
        counter with a count a batch row (caches made before it have one value)."""
        return (self.fused and not torch.compiler.is_compiling() and xBC.dtype == hidden.dtype
                and cache.step_counter is not None and cache.step_counter.numel() > xBC.shape[0])

    def _decode_fused(self, xBC: torch.Tensor, dt: torch.Tensor, cache: MambaLayerCache,
                      gate: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One token through :func:`~bambaprof.ssm.kernels.mixer.mixer_decode_step` (conv, SiLU and the SSM
        step in one launch, the caches updated in place); ``y (b, intermediate)``, or with ``gate`` (eager
        only) the gated norm of it, from the same launch."""
        with phase("decode_step"):
            mixer = _fused()
            args = (xBC, dt, cache.conv_state, self.conv1d.weight, self.conv1d.bias, cache.ssm_state,
                    cache.step_counter, self.A_log, self.D, self.dt_bias, float(self.dt_limit[0]),
                    float(self.dt_limit[1]), self.n_heads, self.n_groups)
            if gate is not None:
                return mixer.mixer_decode_step(*args, gate=gate, norm_weight=self.norm.weight, eps=self.norm.eps,
                                               out_dtype=xBC.dtype)
            step = mixer.mixer_decode_step_op if torch.compiler.is_compiling() else mixer.mixer_decode_step
            return step(*args)

    def _decode(self, xBC: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, cache: MambaLayerCache, offset: int):
        with phase("conv"):  # torch's form: the study's variants (the triton variant takes _decode_fused)
            conv_state = torch.cat([cache.conv_state[..., 1:], xBC[..., None]], dim=-1)  # (b, conv_dim, d_conv)
            cache.conv_state = conv_state
            xBC = (conv_state * self.conv1d.weight[:, 0, :]).sum(dim=-1)
            if self.conv1d.bias is not None:
                xBC = xBC + self.conv1d.bias
            x, B, C = self._split_xbc(F.silu(xBC).to(dt.dtype))
        with phase("ssd_decode"):
            y, cache.ssm_state = self.variant.decode(
                cache.ssm_state, x, dt, A, B, C, D=self.D, dt_bias=self.dt_bias, dt_softplus=True,
                dt_limit=self.dt_limit, chunk_size=self.chunk_size, position=offset,
            )
        return y
