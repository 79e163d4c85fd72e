"""Triton kernels used by the SSM variants.

- :mod:`.ssd`: the ``triton`` variant's chunked SSD forward (two kernels: prep, one-pass chunk scan) and decode kernel;
- :mod:`.ssd_sm90`: its chunk scan for Hopper in Gluon (TMA, mbarriers, wgmma), in the forms of ``FORMS``, and
  :mod:`.ssd_sm90_slim`, the form that fits three programs an SM, and :mod:`.ssd_sm90_pair`, the form of two
  heads a program; :mod:`.tickets`: the scans' shared ticket order;
- :mod:`.mixer`: the ``triton`` variant's mixer kernels around the core (conv1d + SiLU, gated RMSNorm, the
  one-launch decode step);
- :mod:`.gemv`: the ``triton`` model's decode GEMVs with the residual add and RMSNorm, or the MLP's activation,
  in their launch;
- :mod:`.sample`: the ``triton`` model's greedy sampling (argmax of each row of logits) in one multi-program
  launch;
- :mod:`.ops`: those kernels as ``torch.library`` custom ops, for ``torch.compile``;
- :mod:`.launch`: eager launches that reuse a kept compiled kernel (on by default, less host time a launch);
- :mod:`.grid`: the host-side grid arithmetic;
- :mod:`.cumsum`: ``default-optimized``'s chunk cumulative sum;
- :mod:`.metadata`: the bytes and FLOPs each launch records into profiler traces;
- :mod:`.aot`: compile a kernel for a GPU that is not here and read its registers and spills.

Importing this package imports Triton. On a machine without a CUDA GPU the
kernels only run under the Triton interpreter, which must be switched on
(``TRITON_INTERPRET=1``) before Triton is first imported; see
:func:`bambaprof.ssm.capabilities.triton_mode`.
"""
