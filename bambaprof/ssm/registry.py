"""The variant registry: built-ins, plug-ins from entry points, and ``module:attr``.

Third-party variants arrive in three ways:

- an installed distribution declares an entry point in the group
  ``bambaprof.variants`` (``name = package.module:attr``);
- a name of the form ``package.module:attr`` given to :func:`get_variant`
  (the CLI's ``--variant``);
- :func:`register_variant` at run time.

The attribute may be a :class:`~bambaprof.ssm.contract.Variant`, or a plain
forward function with the contract's signature (it is then wrapped as an
exact variant with no decode step).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Dict, List

from ..errors import UsageError
from .contract import Variant
from .default import DEFAULT
from .default_optimized import DEFAULT_OPTIMIZED
from .independent import INDEPENDENT
from .reference import REFERENCE
from .triton_ssd import TRITON

ENTRY_POINT_GROUP = "bambaprof.variants"

_BUILTIN: Dict[str, Variant] = {v.name: v for v in (REFERENCE, DEFAULT, DEFAULT_OPTIMIZED, INDEPENDENT, TRITON)}
_REGISTERED: Dict[str, Variant] = {}
#: Entry points that failed to load: name -> one-line reason.
PLUGIN_ERRORS: Dict[str, str] = {}


def register_variant(variant: Variant, replace: bool = False) -> Variant:
    """Add ``variant`` to the registry under its name; refuse to shadow a name unless ``replace``."""
    if not isinstance(variant, Variant):
        raise UsageError(f"register_variant expects a Variant, got {type(variant).__name__}")
    if not replace and (variant.name in _BUILTIN or variant.name in _REGISTERED):
        raise UsageError(f"a variant named {variant.name!r} is already registered")
    _REGISTERED[variant.name] = variant
    return variant


def _as_variant(obj: object, name: str, origin: str) -> Variant:
    if isinstance(obj, Variant):
        return obj
    if callable(obj):
        return Variant(name=name, forward=obj, step=None, exact=True, summary=f"plug-in {origin}", origin=origin)
    raise UsageError(f"{origin} is neither a Variant nor a callable (got {type(obj).__name__})")


def _load_spec(spec: str) -> Variant:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"variant spec {spec!r} must look like package.module:attr")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r} for variant {spec!r}: {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    return _as_variant(obj, spec, spec)


def _plugins() -> Dict[str, Variant]:
    found: Dict[str, Variant] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _BUILTIN:
            PLUGIN_ERRORS[ep.name] = f"entry point {ep.value} shadows a built-in variant; ignored"
            continue
        try:
            found[ep.name] = _as_variant(ep.load(), ep.name, f"entry point {ep.value}")
        except Exception as exc:  # a broken plug-in must not break the tool
            PLUGIN_ERRORS[ep.name] = f"entry point {ep.value} failed to load: {exc}"
    return found


def list_variants() -> List[Variant]:
    """Every available variant: built-ins first, then registered ones, then entry points."""
    out = dict(_BUILTIN)
    out.update(_REGISTERED)
    for name, v in _plugins().items():
        out.setdefault(name, v)
    return list(out.values())


def variant_names() -> List[str]:
    """Names of :func:`list_variants`."""
    return [v.name for v in list_variants()]


def get_variant(name: str) -> Variant:
    """Look a variant up by name, or load ``package.module:attr``.

    Raises :class:`~bambaprof.errors.UsageError` naming the known variants
    when ``name`` is unknown.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"variant name must be a non-empty string, got {name!r}")
    if name in _BUILTIN:
        return _BUILTIN[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    if ":" in name:
        return _load_spec(name)
    plugins = _plugins()
    if name in plugins:
        return plugins[name]
    known = ", ".join(sorted(set(_BUILTIN) | set(_REGISTERED) | set(plugins)))
    raise UsageError(f"unknown variant {name!r} (known: {known}; or give package.module:attr)")
