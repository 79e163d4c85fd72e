"""Triton kernels used by the SSM variants.

Importing this package imports Triton. On a machine without a CUDA GPU the
kernels only run under the Triton interpreter, which must be switched on
(``TRITON_INTERPRET=1``) before Triton is first imported; see
:func:`bambaprof.ssm.capabilities.triton_mode`.
"""
