"""The registry: built-ins, module:attr specs, entry points and run-time registration."""

import sys
import types

import pytest

from bambaprof.errors import UsageError
from bambaprof.ssm import Variant, get_variant, list_variants, register_variant, registry
from bambaprof.ssm.chunked import chunked_forward
from bambaprof.ssm.default import DEFAULT


def test_builtins_are_listed_in_order():
    names = [v.name for v in list_variants()]
    assert names[:4] == ["reference", "default", "default-optimized", "independent"]
    assert {v.name: v.exact for v in list_variants()}["independent"] is False


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(UsageError, match=r"unknown variant 'nope' \(known: default, default-optimized"):
        get_variant("nope")


@pytest.fixture
def plugin_module(monkeypatch):
    mod = types.ModuleType("fake_ssd_plugin")
    mod.VARIANT = Variant(name="fake", forward=chunked_forward, step=None, summary="test")
    mod.plain_forward = chunked_forward
    mod.not_callable = 42
    monkeypatch.setitem(sys.modules, "fake_ssd_plugin", mod)
    return mod


def test_module_attr_spec_loads_a_variant(plugin_module):
    assert get_variant("fake_ssd_plugin:VARIANT") is plugin_module.VARIANT


def test_module_attr_spec_wraps_a_plain_function(plugin_module):
    v = get_variant("fake_ssd_plugin:plain_forward")
    assert v.name == "fake_ssd_plugin:plain_forward" and v.step is None and v.exact


@pytest.mark.parametrize(
    "spec,match",
    [
        ("fake_ssd_plugin:missing", "has no attribute"),
        ("fake_ssd_plugin:not_callable", "neither a Variant nor a callable"),
        ("no_such_module_xyz:thing", "cannot import"),
        (":thing", "must look like"),
    ],
)
def test_bad_specs(plugin_module, spec, match):
    with pytest.raises(UsageError, match=match):
        get_variant(spec)


def test_entry_points_are_discovered_and_broken_ones_reported(monkeypatch, plugin_module):
    class EP:
        def __init__(self, name, value, obj=None, error=None):
            self.name, self.value, self._obj, self._error = name, value, obj, error

        def load(self):
            if self._error:
                raise self._error
            return self._obj

    eps = [EP("fake-ep", "fake_ssd_plugin:VARIANT", plugin_module.VARIANT),
           EP("broken", "missing:thing", error=ImportError("no module named missing")),
           EP("default", "fake_ssd_plugin:VARIANT", plugin_module.VARIANT)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == "bambaprof.variants" else [])
    monkeypatch.setattr(registry, "PLUGIN_ERRORS", {})
    assert get_variant("fake-ep") is plugin_module.VARIANT
    names = [v.name for v in list_variants()]
    assert "fake" in names and "broken" not in names
    assert get_variant("default") is DEFAULT  # a plug-in cannot shadow a built-in
    assert "failed to load" in registry.PLUGIN_ERRORS["broken"]
    assert "shadows a built-in" in registry.PLUGIN_ERRORS["default"]


def test_register_variant(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", {})
    v = Variant(name="mine", forward=chunked_forward)
    register_variant(v)
    assert get_variant("mine") is v
    with pytest.raises(UsageError, match="already registered"):
        register_variant(Variant(name="default", forward=chunked_forward))
    with pytest.raises(UsageError, match="expects a Variant"):
        register_variant(chunked_forward)


def test_decode_without_step_is_a_clear_error(plugin_module):
    import torch

    from bambaprof.errors import BambaprofError

    with pytest.raises(BambaprofError, match="offers no decode step"):
        plugin_module.VARIANT.decode(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1), torch.zeros(1, 1),
                                     torch.zeros(1), torch.zeros(1, 1, 1), torch.zeros(1, 1, 1))
