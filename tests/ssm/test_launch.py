"""The eager launch shortcut (:mod:`bambaprof.ssm.kernels.launch`) on a stand-in for a Triton kernel: which
launches reuse a kept compiled kernel, with which values, and when it falls back to ``JITFunction.run``."""

import dataclasses

import pytest
import torch

from bambaprof.ssm.kernels import launch


class Compiled:
    """A compiled kernel: records ``compiled[grid](*values)`` launches."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def __getitem__(self, grid):
        return lambda *values: self.log.append(("kept", self.name, grid, values))


class Kernel:
    """A ``@jit`` kernel ``k(x_ptr, n, eps, BLOCK: constexpr, FLAG: constexpr = True)``: its launches go through
    "JITFunction.run" (logged) and return a new compiled kernel; its binder binds as Triton's does."""

    arg_names = ["x_ptr", "n", "eps", "BLOCK", "FLAG"]

    def __init__(self, binder=None):
        self.log = []
        self.compiles = 0
        self.device_caches = {d: (None, None, None, None, binder or self._bind) for d in (0, 1)}

    @staticmethod
    def _bind(x_ptr, n, eps, BLOCK, FLAG=True, **options):
        return {"x_ptr": x_ptr, "n": n, "eps": eps, "BLOCK": BLOCK, "FLAG": FLAG}, [], options

    def __getitem__(self, grid):
        def run(*args, **kwargs):
            self.log.append(("run", grid, args, kwargs))
            self.compiles += 1
            return Compiled(self.log, self.compiles)
        return run


@pytest.fixture(autouse=True)
def _device(monkeypatch):
    monkeypatch.setattr(launch, "current_device", lambda: 0)


def test_a_launch_with_a_key_seen_before_calls_the_kept_kernel_with_every_parameter():
    k = Kernel()
    fast = launch.CachedLaunch(k)
    x = torch.zeros(64)
    fast[(4,)](x, 100, 1e-5, BLOCK=32, num_warps=4)
    fast[(8,)](x, 100, 1e-5, BLOCK=32, num_warps=4)
    assert [e[0] for e in k.log] == ["run", "kept"]
    _, compiled, grid, values = k.log[1]
    assert compiled == 1 and grid == (8, 1, 1)
    assert values[0] is x and values[1:] == (100, 1e-5, 32, True)  # the constexpr and the default follow


@pytest.mark.parametrize("change", ["int", "float", "constexpr", "option", "dtype", "alignment", "bool_for_int",
                                    "constexpr_bool_for_int", "device"])
def test_any_change_triton_could_specialize_on_takes_the_full_path(change):
    k = Kernel()
    fast = launch.CachedLaunch(k)
    buf = torch.zeros(64)
    args, kwargs = [buf, 1 if change == "bool_for_int" else 16, 0.5], {"BLOCK": 32, "num_warps": 4}
    if change == "constexpr_bool_for_int":
        kwargs["FLAG"] = 1
    fast[(1,)](*args, **kwargs)
    if change == "int":
        args[1] = 17
    elif change == "float":
        args[2] = 0.25
    elif change == "constexpr":
        kwargs["BLOCK"] = 64
    elif change == "option":
        kwargs["num_warps"] = 8
    elif change == "dtype":
        args[0] = buf.half()
    elif change == "alignment":
        args[0] = buf[1:]  # 4 bytes past a 16-byte boundary
    elif change == "bool_for_int":
        args[1] = True  # equal to 1 in Python, another type to Triton
    elif change == "constexpr_bool_for_int":
        kwargs["FLAG"] = True
    elif change == "device":
        launch.current_device = lambda: 1  # the fixture puts it back
    fast[(1,)](*args, **kwargs)
    assert [e[0] for e in k.log] == ["run", "run"]
    fast[(1,)](*args, **kwargs)
    assert [e[0] for e in k.log] == ["run", "run", "kept"] and k.log[-1][1] == 2


def test_parameters_key_like_tensors_and_other_subclasses_take_the_full_path():
    class Traced(torch.Tensor):  # stands for fake and functional tensors, which have no address
        pass

    k = Kernel()
    fast = launch.CachedLaunch(k)
    weight = torch.nn.Parameter(torch.zeros(64), requires_grad=False)
    for _ in range(2):
        fast[(1,)](weight, 16, 0.5, BLOCK=32)
    traced = torch.zeros(64).as_subclass(Traced)
    for _ in range(2):
        fast[(1,)](traced, 16, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "kept", "run", "run"]


def test_another_tensor_at_the_same_alignment_reuses_the_kernel():
    k = Kernel()
    fast = launch.CachedLaunch(k)
    fast[(1,)](torch.zeros(64), 16, 0.5, BLOCK=32)
    other = torch.ones(256)
    fast[(1,)](other, 16, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "kept"] and k.log[1][3][0] is other


def test_arguments_of_other_types_and_callable_grids_always_take_the_full_path():
    k = Kernel()
    fast = launch.CachedLaunch(k)
    for _ in range(2):
        fast[(1,)](torch.zeros(4), (1, 2), 0.5, BLOCK=32)  # a tuple argument
        fast[lambda meta: (1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
        fast[(1,)](torch.zeros(4), 3, 0.5, BLOCK=[32])  # an unhashable constexpr
    assert [e[0] for e in k.log] == ["run"] * 6


def test_a_binder_that_does_not_bind_as_expected_turns_the_shortcut_off():
    def reordering(x_ptr, n, eps, BLOCK, FLAG=True, **options):
        return {"n": n, "x_ptr": x_ptr, "eps": eps, "BLOCK": BLOCK, "FLAG": FLAG}, [], options

    k = Kernel(binder=reordering)
    fast = launch.CachedLaunch(k)
    for _ in range(3):
        fast[(1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run"] * 3 and not fast._kept

    k = Kernel()
    k.device_caches = {}  # another Triton's layout
    fast = launch.CachedLaunch(k)
    for _ in range(2):
        fast[(1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run"] * 2


def test_a_kernel_whose_keys_rarely_repeat_stops_keying(monkeypatch):
    monkeypatch.setattr(launch, "MIN_MISSES", 4)
    k = Kernel()
    fast = launch.CachedLaunch(k)
    for n in range(3):  # three keys, each seen twice: 3 misses, 3 hits
        fast[(1,)](torch.zeros(4), n, 0.5, BLOCK=32)
        fast[(1,)](torch.zeros(4), n, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "kept"] * 3
    for n in range(3, 6):  # new keys only: the fourth miss outnumbers the hits
        fast[(1,)](torch.zeros(4), n, 0.5, BLOCK=32)
    fast[(1,)](torch.zeros(4), 0, 0.5, BLOCK=32)  # a key kept before now takes the full path too
    assert [e[0] for e in k.log[6:]] == ["run"] * 4 and not fast._kept


def test_the_kept_kernels_are_bounded(monkeypatch):
    monkeypatch.setattr(launch, "MAX_KEYS", 3)
    k = Kernel()
    fast = launch.CachedLaunch(k)
    for n in range(7):
        fast[(1,)](torch.zeros(4), n, 0.5, BLOCK=32)
    assert 1 <= len(fast._kept) <= 3


def test_direct_wraps_unless_turned_off_and_not_under_the_interpreter(monkeypatch):
    k = Kernel()
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setattr(launch, "_wrapped", {})
    monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", "0")
    assert launch.direct(k) is k
    assert launch.mode() == "off"
    for setting in (None, "1", "kept", "keyed"):
        monkeypatch.setattr(launch, "_wrapped", {})
        if setting is None:
            monkeypatch.delenv("BAMBAPROF_TRITON_FAST_LAUNCH", raising=False)
        else:
            monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", setting)
        wrapped = launch.direct(k)
        assert isinstance(wrapped, launch.CachedLaunch) and launch.direct(k) is wrapped
        assert wrapped.direct_calls == (setting != "kept")
        assert launch.mode() == (setting if setting in ("kept", "keyed") else "on")
        # whole forwards are kept with the whole shortcut only
        assert (launch.memo_of(k) is not None) == (launch.mode() == "on")
    monkeypatch.setattr(launch, "_wrapped", {})
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert launch.direct(k) is k


def test_wrappers_are_kept_per_kernel_object(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.delenv("BAMBAPROF_TRITON_FAST_LAUNCH", raising=False)
    monkeypatch.setattr(launch, "_wrapped", {})
    a, b = Kernel(), Kernel()
    assert launch.wrapper_of(a) is None
    wa, wb = launch.direct(a), launch.direct(b)
    assert wa is not wb and wa.kernel is a and wb.kernel is b
    assert launch.direct(a) is wa and launch.wrapper_of(a) is wa and launch.wrapper_of(b) is wb
    launch._wrapped[id(a)] = (Kernel(), "another kernel that had this id")  # a recycled id is told apart
    assert launch.wrapper_of(a) is None and launch.direct(a).kernel is a


class Hooks:
    """Triton's runtime knobs as far as the raw launch reads them: enter and exit hooks."""

    def __init__(self, enter=None, exit=None):
        self.launch_enter_hook, self.launch_exit_hook = enter, exit


class Chain:
    """Triton 3.6's HookChain: a list of calls, idle when empty."""

    def __init__(self, *calls):
        self.calls = list(calls)


def _raw_kernel(monkeypatch, hooks):
    """A kernel whose kept launches get a raw launcher that logs its C call."""
    calls = []
    monkeypatch.setattr(launch, "_runtime_knobs", lambda: hooks)
    monkeypatch.setattr(launch.RawLauncher, "of", staticmethod(
        lambda compiled: launch.RawLauncher(lambda *a: calls.append(a), 0xF00, (4, 1, 0), False, True,
                                            lambda device: 1000 + device)))
    return Kernel(), calls


def test_a_kept_launch_calls_the_launchers_c_function_with_addresses_and_the_stream(monkeypatch):
    k, calls = _raw_kernel(monkeypatch, Hooks(Chain(), Chain()))
    fast = launch.CachedLaunch(k)
    x = torch.zeros(64)
    fast[(4,)](x, 100, 1e-5, BLOCK=32)
    fast[(8, 2)](x, 100, 1e-5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run"]  # the hit went to the C function, not to the compiled kernel
    (call,) = calls
    assert call[:13] == (8, 2, 1, 1000, 0xF00, False, True, None, None, (4, 1, 0), None, None, None)
    assert call[13:] == (x.data_ptr(), 100, 1e-5, 32, True)  # the tensor as its address, then the tail


@pytest.mark.parametrize("hooks", [Hooks(Chain(print), Chain()), Hooks(None, print), None])
def test_a_registered_launch_hook_sends_kept_launches_through_triton(monkeypatch, hooks):
    k, calls = _raw_kernel(monkeypatch, hooks)
    fast = launch.CachedLaunch(k)
    for _ in range(2):
        fast[(1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "kept"] and not calls


def test_kept_mode_launches_kept_kernels_through_triton(monkeypatch):
    k, calls = _raw_kernel(monkeypatch, Hooks())
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setenv("BAMBAPROF_TRITON_FAST_LAUNCH", "kept")
    monkeypatch.setattr(launch, "_wrapped", {})
    assert launch.mode() == "kept"
    fast = launch.direct(k)
    for _ in range(2):
        fast[(1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "kept"] and not calls


def test_a_launcher_of_another_kind_gets_no_raw_launch():
    class Launcher:
        global_scratch_size = profile_scratch_size = 0

    class Compiled:
        run, function, packed_metadata = Launcher(), 1, (4, 1, 0)

    assert launch.RawLauncher.of(Compiled()) is None
    assert launch.RawLauncher.of(object()) is None


def test_a_launch_without_tensors_or_with_tensors_only_is_keyed():
    k = Kernel()
    fast = launch.CachedLaunch(k)
    for _ in range(2):
        fast[(1,)](7, 16, 0.5, BLOCK=32)  # no tensor among the arguments
    x, y, z = torch.zeros(4), torch.zeros(8), torch.zeros(16)
    for _ in range(2):
        fast[(1,)](x, y, z, BLOCK=32)  # tensors only
    assert [e[0] for e in k.log] == ["run", "kept", "run", "kept"]
    assert k.log[1][3][:3] == (7, 16, 0.5) and k.log[3][3][:3] == (x, y, z)


def test_the_key_tells_cpu_tensors_from_others():
    key, values = launch._key((torch.zeros(4), 3), {})
    assert False in key and values[1] == 3 and isinstance(values[0], int)


def _descriptors():
    """Gluon's and ``triton.tools``' host-side TMA descriptor classes (those this Triton has)."""
    return sorted(launch._descriptor_types(), key=lambda cls: cls.__module__)


def _describe(cls, tensor, block=(16, 16), padding="zero", layout=None):
    """A descriptor of ``tensor`` (2-D) of class ``cls``, with a shared-memory layout where the class has one."""
    kwargs = {"padding": padding}
    if _has_layout(cls):
        from triton.experimental.gluon import language as gl

        kwargs["layout"] = layout or gl.NVMMASharedLayout.get_default_for(list(block), tensor_dtype(tensor))
    return cls(tensor, list(tensor.shape), list(tensor.stride()), list(block), **kwargs)


def test_this_triton_has_host_side_tma_descriptors():
    assert any(cls.__module__.startswith("triton.tools") for cls in _descriptors())


@pytest.mark.parametrize("cls", _descriptors(), ids=lambda cls: cls.__module__)
def test_a_descriptor_over_another_tensor_of_another_length_reuses_the_kernel_and_is_passed_as_it_is(cls):
    k = Kernel()
    fast = launch.CachedLaunch(k)
    first = _describe(cls, torch.zeros(64, 32, dtype=torch.bfloat16))
    fast[(1,)](first, 16, 0.5, BLOCK=32)
    second = _describe(cls, torch.zeros(256, 32, dtype=torch.bfloat16))  # another base, another shape
    fast[(1,)](second, 16, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "kept"] and k.log[1][3][0] is second


def _has_layout(cls):
    return "layout" in {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("cls,change", [
    pytest.param(cls, change, id=f"{cls.__module__}-{change}") for cls in _descriptors()
    for change in ("dtype", "block", "padding", "rank", "layout") if change != "layout" or _has_layout(cls)])
def test_a_descriptor_change_triton_could_specialize_on_takes_the_full_path(cls, change):
    k = Kernel()
    fast = launch.CachedLaunch(k)
    base = torch.zeros(64, 32, dtype=torch.bfloat16)
    fast[(1,)](_describe(cls, base), 16, 0.5, BLOCK=32)
    if change == "dtype":
        other = _describe(cls, base.half())
    elif change == "block":
        other = _describe(cls, base, block=(32, 16))
    elif change == "padding":
        other = _describe(cls, base, padding="nan")
    elif change == "rank":
        other = _describe(cls, base.view(2, 32, 32), block=(1, 16, 16))
    else:
        from triton.experimental.gluon import language as gl

        other = _describe(cls, base, layout=gl.NVMMASharedLayout(swizzle_byte_width=0, element_bitwidth=16, rank=2))
    fast[(1,)](other, 16, 0.5, BLOCK=32)
    fast[(1,)](other, 16, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run", "run", "kept"] and k.log[-1][1] == 2


def test_a_descriptor_over_a_tensor_subclass_or_with_an_unhashable_field_takes_the_full_path():
    class Traced(torch.Tensor):
        pass

    cls = _descriptors()[0]
    k = Kernel()
    fast = launch.CachedLaunch(k)
    traced = _describe(cls, torch.zeros(64, 32, dtype=torch.bfloat16).as_subclass(Traced))
    odd = _describe(cls, torch.zeros(64, 32, dtype=torch.bfloat16))
    odd.padding = {"not": "hashable"}
    for _ in range(2):
        fast[(1,)](traced, 16, 0.5, BLOCK=32)
        fast[(1,)](odd, 16, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run"] * 4


def test_a_raw_launch_passes_descriptors_as_they_are_and_tensors_as_addresses(monkeypatch):
    k, calls = _raw_kernel(monkeypatch, Hooks())
    fast = launch.CachedLaunch(k)
    cls = _descriptors()[0]
    x = torch.zeros(64)
    for rows in (64, 128):
        desc = _describe(cls, torch.zeros(rows, 32, dtype=torch.bfloat16))
        fast[(2,)](desc, x, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run"]
    (call,) = calls
    assert call[13] is desc and call[14:] == (x.data_ptr(), 0.5, 32, True)


def tensor_dtype(tensor):
    from triton.experimental.gluon import language as gl

    return {torch.bfloat16: gl.bfloat16, torch.float16: gl.float16}[tensor.dtype]


class Described:
    """A host-side descriptor as the expansion reads it: a base with an address, shape, strides, padding."""

    def __init__(self, address, shape, strides, padding="zero"):
        self.base = type("Base", (), {"data_ptr": lambda _: address})()
        self.shape, self.strides, self.padding = list(shape), list(strides), padding


class Encoder:
    """Triton's ``make_tensordesc_arg`` stand-in: a "tensor map" naming what it encoded, then shape and strides
    (without metadata: the base, shape, strides, padding flag, shape and strides, as Triton's does)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, descriptor, meta):
        self.calls += 1
        if meta is None:
            return [descriptor.base, *descriptor.shape, *descriptor.strides, descriptor.padding == "nan",
                    *descriptor.shape, *descriptor.strides]
        return [("map", meta, descriptor.base.data_ptr(), self.calls), *descriptor.shape, *descriptor.strides]


def _triton_like_wrapper(c_function, positions, metas):
    """A launch wrapper with the free variables of Triton 3.6's ``wrap_handle_tensordesc``'s ``inner``."""
    launcher, tensordesc_indices, tensordesc_meta = c_function, set(positions), metas

    def inner(*args):
        return launcher, tensordesc_indices, tensordesc_meta

    return inner


def test_a_launch_function_that_is_not_python_is_the_c_function_itself():
    assert launch.DescriptorParams.unwrap(print, Encoder()) == (print, None)


def test_a_wrapper_of_another_shape_or_no_encoder_gets_no_raw_launch():
    def other(*args):  # no free variables
        return args

    wrapper = _triton_like_wrapper(print, [0], ["m"])
    assert launch.DescriptorParams.unwrap(other, Encoder()) is None
    assert launch.DescriptorParams.unwrap(wrapper, None) is None
    assert launch.DescriptorParams.unwrap(_triton_like_wrapper(print, [0, 2], ["m"]), Encoder()) is None


def test_descriptors_are_expanded_in_place_and_each_encoding_is_kept_while_its_fields_repeat():
    make = Encoder()
    c_function, params = launch.DescriptorParams.unwrap(_triton_like_wrapper(print, [3, 0], ["m0", "m3"]), make)
    assert c_function is print and params.positions == (0, 3)
    first, second = Described(0x1000, [512, 8192], [8192, 1]), Described(0x2000, [512, 128], [128, 1])
    out = params([first, 7, 0.5, second, None])
    assert out == [("map", "m0", 0x1000, 1), 512, 8192, 8192, 1, 7, 0.5, ("map", "m3", 0x2000, 2), 512, 128, 128, 1,
                   None]
    assert params([first, 8, 0.5, second, None])[:5] == out[:5] and make.calls == 2  # both kept
    # another address, shape, strides or padding: encoded again
    for changed in (Described(0x3000, [512, 128], [128, 1]), Described(0x2000, [1024, 128], [128, 1]),
                    Described(0x2000, [512, 128], [256, 1]), Described(0x2000, [512, 128], [128, 1], "nan")):
        calls = make.calls
        assert params([first, 7, 0.5, changed, None])[7][3] == calls + 1
    # a descriptor at another position with the same fields has its own encoding
    assert params([second, 7, 0.5, second, None])[0][1] == "m0"


def test_without_metadata_nothing_is_kept():
    make = Encoder()
    _, params = launch.DescriptorParams.unwrap(_triton_like_wrapper(print, [1], None), make)
    descriptor = Described(0x1000, [64, 64], [64, 1])
    for _ in range(2):
        assert params([5, descriptor])[:2] == [5, descriptor.base]
    assert make.calls == 2


def test_the_kept_encodings_are_bounded(monkeypatch):
    monkeypatch.setattr(launch, "MAX_TENSOR_MAPS", 2)
    _, params = launch.DescriptorParams.unwrap(_triton_like_wrapper(print, [0], ["m"]), Encoder())
    for address in range(0, 5 * 16, 16):
        params([Described(address, [64, 64], [64, 1])])
        assert len(params.encoded) <= 2


def test_a_raw_launch_of_a_kernel_with_descriptors_passes_them_expanded(monkeypatch):
    calls = []
    make = Encoder()
    monkeypatch.setattr(launch, "_runtime_knobs", lambda: Hooks())
    _, params = launch.DescriptorParams.unwrap(_triton_like_wrapper(print, [0], ["m"]), make)
    monkeypatch.setattr(launch.RawLauncher, "of", staticmethod(
        lambda compiled: launch.RawLauncher(lambda *a: calls.append(a), 0xF00, (4, 1, 0), False, True,
                                            lambda device: 1000 + device, params)))
    k = Kernel()
    fast = launch.CachedLaunch(k)
    cls = _descriptors()[0]
    x = torch.zeros(64)
    tensor = torch.zeros(128, 32, dtype=torch.bfloat16)
    for _ in range(3):
        fast[(2,)](_describe(cls, tensor), x, 0.5, BLOCK=32)
    assert [e[0] for e in k.log] == ["run"] and len(calls) == 2 and make.calls == 1
    assert calls[0][13:] == calls[1][13:] == (("map", "m", tensor.data_ptr(), 1), 128, 32, 32, 1, x.data_ptr(), 0.5,
                                              32, True)


def test_the_expansion_matches_tritons_own_wrapper_where_this_triton_has_it(monkeypatch):
    """Where this Triton's CUDA launcher is the known one (3.5, 3.6), what its descriptor wrapper passes to the C
    function and what the raw launch passes are the same (the encoder replaced: no GPU is needed)."""
    driver = pytest.importorskip("triton.backends.nvidia.driver")
    if not hasattr(driver, "wrap_handle_tensordesc") or not hasattr(driver, "make_tensordesc_arg"):
        pytest.skip("this Triton's launcher has no descriptor wrapper")
    make = Encoder()
    monkeypatch.setattr(driver, "make_tensordesc_arg", make)
    seen = []
    signature = {"a": "tensordesc<bf16[64, 64]>", "n": "i32", "b": "tensordesc<bf16[64, 128]>", "y": "*bf16"}
    wrapper = driver.wrap_handle_tensordesc(lambda *args: seen.append(args), signature, ["m0", "m2"])
    unwrapped = launch.DescriptorParams.unwrap(wrapper, make)
    if getattr(driver, "_BASE_ARGS_FORMAT", None) != launch.KNOWN_LAUNCH_FORMAT:
        pytest.skip("this Triton's launcher is another (no raw launches)")
    c_function, params = unwrapped
    first, second = Described(0x1000, [512, 256], [256, 1]), Described(0x2000, [512, 128], [128, 1])
    base = tuple(range(len(launch.KNOWN_LAUNCH_FORMAT)))
    wrapper(*base, first, 7, second, 0x3000)
    c_function(*base, *params([first, 7, second, 0x3000]))
    theirs, ours = seen
    assert ours[:len(base)] == theirs[:len(base)] and len(ours) == len(theirs)
    assert [v if not isinstance(v, tuple) else v[:3] for v in ours] == \
        [v if not isinstance(v, tuple) else v[:3] for v in theirs]


def test_a_frozen_launch_repeats_the_c_call_with_the_stream_of_its_call(monkeypatch):
    k, calls = _raw_kernel(monkeypatch, Hooks(Chain(), Chain()))
    fast = launch.CachedLaunch(k)
    x = torch.zeros(64)
    assert fast.frozen((4,), (x, 100, 1e-5), {"BLOCK": 32}) is None  # not launched yet: nothing kept
    fast[(4,)](x, 100, 1e-5, BLOCK=32)
    frozen = fast.frozen((4, 2), (x, 100, 1e-5), {"BLOCK": 32})
    assert frozen is not None and not calls
    frozen()
    streams = iter((7, 9))
    frozen.raw.stream_of = lambda device: next(streams)
    frozen()
    frozen()
    assert [c[3] for c in calls] == [1000, 7, 9]  # the stream is the current one at each call
    assert all(c[:3] == (4, 2, 1) and c[13:] == (x.data_ptr(), 100, 1e-5, 32, True) for c in calls)
    assert fast.frozen(lambda meta: (1,), (x, 100, 1e-5), {"BLOCK": 32}) is None  # a callable grid


def test_there_is_no_frozen_launch_without_a_raw_one_or_with_a_descriptor_expanded_without_metadata(monkeypatch):
    k = Kernel()
    fast = launch.CachedLaunch(k, direct_calls=False)
    fast[(1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
    assert fast.frozen((1,), (torch.zeros(4), 3, 0.5), {"BLOCK": 32}) is None
    monkeypatch.setattr(launch, "_runtime_knobs", lambda: Hooks())
    _, params = launch.DescriptorParams.unwrap(_triton_like_wrapper(print, [0], None), Encoder())
    monkeypatch.setattr(launch.RawLauncher, "of", staticmethod(
        lambda compiled: launch.RawLauncher(print, 0xF00, (4, 1, 0), False, True, lambda device: 0, params)))
    fast = launch.CachedLaunch(Kernel())
    described = _describe(_descriptors()[0], torch.zeros(64, 32, dtype=torch.bfloat16))
    fast[(1,)](described, 3, 0.5, BLOCK=32)
    assert fast.frozen((1,), (described, 3, 0.5), {"BLOCK": 32}) is None  # its expansion would hold the tensor


def _memo_kernels(monkeypatch, hooks):
    """Two wrapped stand-in kernels whose kept launches log their C calls (tagged by kernel), the shortcut on."""
    calls = []
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.delenv("BAMBAPROF_TRITON_FAST_LAUNCH", raising=False)
    monkeypatch.setattr(launch, "_wrapped", {})
    monkeypatch.setattr(launch, "_runtime_knobs", lambda: hooks)
    monkeypatch.setattr(launch.RawLauncher, "of", staticmethod(
        lambda compiled: launch.RawLauncher(lambda *a: calls.append(a), compiled.name, (4, 1, 0), False, True,
                                            lambda device: 1000 + device)))
    return Kernel(), Kernel(), calls


def _forward(memo, key, first, second, x, n):
    """A caller's forward: the kept launches of ``key``, else both kernels through a recorder, kept."""
    if memo.run(key):
        return "memo"
    recorder = memo.recorder()
    recorder(first)[(2,)](x, n, 0.5, BLOCK=32)
    recorder(second)[(3,)](x, n + 1, 0.25, BLOCK=64)
    memo.keep(key, recorder)
    return "launched"


def test_a_memo_repeats_a_whole_sequence_for_its_key(monkeypatch):
    first, second, calls = _memo_kernels(monkeypatch, Hooks(Chain(), Chain()))
    memo = launch.memo_of(first)
    x = torch.zeros(64)
    assert [_forward(memo, ("k", 1), first, second, x, 16) for _ in range(3)] == ["launched", "memo", "memo"]
    assert [_forward(memo, ("k", 2), first, second, x, 17) for _ in range(2)] == ["launched", "memo"]
    kinds = [(c[4], c[13:]) for c in calls]
    one = [(1, (x.data_ptr(), 16, 0.5, 32, True)), (1, (x.data_ptr(), 17, 0.25, 64, True))]
    two = [(2, (x.data_ptr(), 17, 0.5, 32, True)), (2, (x.data_ptr(), 18, 0.25, 64, True))]
    # each key's first forward compiled through Triton ("run": each kernel's first and second compile); its later
    # ones are the kept C calls, in order
    assert kinds == one + one + two and [c[:3] for c in calls] == [(2, 1, 1), (3, 1, 1)] * 3
    assert [e[0] for e in first.log + second.log] == ["run"] * 4


@pytest.mark.parametrize("hooks", [Hooks(Chain(print), Chain()), None])
def test_a_memo_launches_nothing_itself_while_a_launch_hook_is_registered(monkeypatch, hooks):
    first, second, calls = _memo_kernels(monkeypatch, hooks)
    memo = launch.memo_of(first)
    x = torch.zeros(64)
    assert [_forward(memo, "k", first, second, x, 16) for _ in range(3)] == ["launched"] * 3 and not calls


def test_a_memo_keeps_nothing_where_a_launch_has_no_frozen_form_and_stops_where_keys_keep_missing(monkeypatch):
    first, second, calls = _memo_kernels(monkeypatch, Hooks())
    memo = launch.memo_of(first)
    recorder = memo.recorder()
    recorder(first)[(1,)](torch.zeros(4), 3, 0.5, BLOCK=32)
    recorder(first)[lambda meta: (1,)](torch.zeros(4), 3, 0.5, BLOCK=32)  # a callable grid: no frozen form
    memo.keep("k", recorder)
    assert not memo.run("k") and not memo._kept
    monkeypatch.setattr(launch, "MIN_MISSES", 4)
    x = torch.zeros(64)
    for n in range(8):
        _forward(memo, ("k", n), first, second, x, n)
    assert not memo.usable and not memo._kept and launch.memo_of(first) is None


def test_a_memo_is_bounded(monkeypatch):
    first, second, _ = _memo_kernels(monkeypatch, Hooks())
    monkeypatch.setattr(launch, "MAX_MEMO_KEYS", 2)
    memo = launch.memo_of(first)
    x = torch.zeros(64)
    for n in range(5):
        for _ in range(2):
            _forward(memo, n, first, second, x, 16)
        assert len(memo._kept) <= 2
