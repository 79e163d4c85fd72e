"""Eager launches of bambaprof's Triton kernels with less host time.

Every ``kernel[grid](*args)`` call goes through Triton's ``JITFunction.run``: it binds the arguments,
specializes each one (dtype and 16-byte alignment of tensors; integers equal to 1 or divisible by 16),
builds a cache key from them and the options, finds the compiled kernel and launches it. With Triton 3.6
on the H200's host that costs about 37 us for a kernel of 30 arguments (``benchmarks/host_time_mixer.py``),
more than the kernel itself at small shapes: the eager mixer and the decode step are host-bound.

:func:`direct` wraps a kernel so that its launches skip that path once it has been taken: the first
launch of each distinct *argument key* goes through ``JITFunction.run`` (compiling if needed), which
returns the compiled kernel; the wrapper keeps it, with the values Triton's own binder gave the launcher
for the parameters not passed positionally (constexprs, defaults). Later launches with the same key call
the compiled kernel directly (``CompiledKernel[grid](...)``, Triton's launcher, on the current stream).

The argument key is stricter than Triton's specialization, so a kept kernel is never used where Triton
would have compiled or chosen another: each tensor's dtype and address modulo 16, every other argument's
exact value (integers, floats, booleans, ``None``), the keyword arguments (constexprs and launch options)
and the current device. A host-side TMA descriptor (Gluon's ``TensorDescriptor``, or ``triton.tools``') keys
on its base tensor's dtype, device kind and address modulo 16, its rank and every field but the base, shape
and strides (block shape, shared-memory layout, padding), and is passed on as it is: its ``CUtensorMap`` is
encoded from the base address, shape and strides at the launch (see below). An argument of any other type,
or a Triton whose internals differ from what this module reads, launches through ``JITFunction.run`` every
time; so does a kernel whose launches keep missing (at least :data:`MIN_MISSES` misses, more misses than hits:
its lengths or addresses rarely repeat).
Under the interpreter (``TRITON_INTERPRET=1``) kernels are launched as they are.

Where Triton's CUDA launcher is one this module knows (its argument format ``iiiKKppOOOOOO``, as in Tritons
3.5 and 3.6; 3.4's has one argument fewer, 3.9's launcher is another) and the kept kernel needs no scratch
memory, a kept launch goes one step further while no Triton launch hook is registered (proton's, for one):
it calls the launcher's C function itself, with the current stream and each tensor's address as an integer
(the key has read them already). That skips Triton's Python ``runner``, its launch metadata and hook calls,
and the C launcher's per-pointer driver query (``cuPointerGetAttribute``, which rejects CPU memory: the key
tells CUDA tensors from others, so a CPU tensor never reaches it this way). A kernel that takes host-side TMA
descriptors (the Gluon chunk scan's four) has that C function behind Triton's Python wrapper, which encodes each
descriptor's ``CUtensorMap`` at every launch; the raw launch expands the descriptors itself and keeps each
encoding while the descriptor's address, shape and strides repeat (:class:`DescriptorParams`).

A caller whose launches repeat as a whole can go further still (:class:`LaunchMemo`): ``ssd_forward`` keys an
eager forward on every tensor's address, shape, strides and dtype and its settings, and where all of them repeat
an earlier forward's (a model's layers run again with the caching allocator) it launches that forward's kernels
again as they were (:class:`FrozenLaunch`: the C function, the grid, the stream and the parameters as they were
passed, descriptors encoded), without building, keying or binding their arguments.

``BAMBAPROF_TRITON_FAST_LAUNCH`` (read at each kernel's first launch in a process): ``0`` turns the shortcut
off, ``kept`` keeps compiled kernels but launches them through Triton's launcher, ``keyed`` calls the C function
for each launch but keeps no whole forwards, anything else (the default) is the whole shortcut.

On the H200 (Triton 3.6, ``benchmarks/results/h200-launch-raw.json``) the three modes' outputs match bit for
bit; side by side on one host (off / kept / on) the eager mixer's host time at 1 x 512 was 328 / 303 / 263 us
a forward, and cached decoding (4 layers) 2.14 / 2.03 / 1.86 ms a token.
"""

from __future__ import annotations

import functools
import operator
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from ..capabilities import triton_interpreter_on

#: The current CUDA device's index (Triton's CUDA driver asks torch the same).
current_device: Callable[[], int] = torch.cuda.current_device

#: Kept compiled kernels per wrapped kernel before the cache is emptied (distinct shapes and addresses).
MAX_KEYS = 4096
#: Misses after which a kernel whose launches miss more often than they hit stops keying its launches.
MIN_MISSES = 64


def enabled() -> bool:
    """Whether kernels wrapped from now on take the shortcut: not under the interpreter, not turned off
    (``BAMBAPROF_TRITON_FAST_LAUNCH=0``), Triton 3.3 or later."""
    if triton_interpreter_on() or _setting() == "0":
        return False
    import triton

    major, minor = (int(v) for v in triton.__version__.split(".")[:2])
    return (major, minor) >= (3, 3)  # binder and launcher take every parameter's value, constexprs included


def mode() -> str:
    """The shortcut kernels wrapped from now on take: ``off``, ``kept`` (kept compiled kernels, launched
    through Triton's launcher), ``keyed`` (and the launcher's C function called directly where it can be) or
    ``on`` (and whole forwards kept, :class:`LaunchMemo`)."""
    if not enabled():
        return "off"
    setting = _setting()
    return setting if setting in ("kept", "keyed") else "on"


def _setting() -> str:
    return os.environ.get("BAMBAPROF_TRITON_FAST_LAUNCH", "1").strip().lower()


class CachedLaunch:
    """A Triton ``@jit`` kernel whose launches reuse the compiled kernel of an argument key seen before
    (see the module docstring). ``kernel[grid](*args, **kwargs)`` as with the kernel itself."""

    def __init__(self, kernel: Any, direct_calls: bool = True, memo: bool = True) -> None:
        self.kernel = kernel
        self.arg_names = kernel.arg_names
        self.direct_calls = direct_calls  # call the launcher's C function where it is a known one
        self._kept: Dict[tuple, Tuple[Any, tuple, Optional[RawLauncher]]] = {}
        self._usable = True  # False once Triton's internals did not look as expected, or keys rarely repeat
        self._hits = self._misses = 0
        #: Whole launch sequences kept by a caller's exact key (:class:`LaunchMemo`), with raw launches only.
        self.memo: Optional[LaunchMemo] = LaunchMemo() if direct_calls and memo else None

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        return lambda *args, **kwargs: self._launch(grid, args, kwargs)

    def _lookup(self, grid: Any, args: tuple, kwargs: Dict[str, Any]) -> Tuple[Optional[tuple], list, Any]:
        """This launch's argument key, its positional values (tensors as addresses) and the entry kept for the key
        (or None); no key (None, [], None) where the launch takes the full path (a callable grid, an argument of
        another type, a descriptor's field that cannot be hashed, the shortcut no longer used for this kernel)."""
        if not self._usable or callable(grid):
            return None, [], None
        keyed = _key(args, kwargs)
        if keyed is None:
            return None, [], None
        key, values = keyed
        try:
            return key, values, self._kept.get(key)
        except TypeError:  # a descriptor's field that cannot be hashed
            return None, [], None

    def _launch(self, grid: Any, args: tuple, kwargs: Dict[str, Any]) -> Any:
        key, values, kept = self._lookup(grid, args, kwargs)
        if kept is not None and key is not None:
            self._hits += 1
            compiled, kept_tail, raw = kept
            g = _grid3(grid)
            if raw is not None and _hooks_idle():
                return raw(g, key[0], values, kept_tail)  # the key starts with the current device
            return compiled[g](*args, *kept_tail)
        compiled = self.kernel[grid](*args, **kwargs)
        if key is not None and compiled is not None:
            self._misses += 1
            if _rarely_repeat(self._hits, self._misses):
                # shapes or addresses rarely repeat (a server's varying lengths): keying only costs
                self._usable = False
                self._kept.clear()
                return compiled
            tail = self._tail(args, kwargs)
            if tail is not None:
                if len(self._kept) >= MAX_KEYS:
                    self._kept.clear()
                self._kept[key] = (compiled, tail, RawLauncher.of(compiled) if self.direct_calls else None)
        return compiled

    def frozen(self, grid: Any, args: tuple, kwargs: Dict[str, Any]) -> Optional["FrozenLaunch"]:
        """This launch (one just made through this wrapper) with every parameter fixed as it was, for
        :class:`LaunchMemo`: the kept kernel's raw launch, tensors as their addresses and each TMA descriptor as its
        encoding; None where there is no such launch (not kept, no raw launch, a callable grid, a descriptor the
        launcher expands without metadata, which would hold its tensor)."""
        key, values, kept = self._lookup(grid, args, kwargs)
        if kept is None or key is None:
            return None
        compiled, tail, raw = kept
        if raw is None:
            return None
        params = [*values, *tail]
        if raw.descriptors is not None:
            if any(meta is None for meta in raw.descriptors.metas):
                return None
            params = raw.descriptors(params)
        return FrozenLaunch(raw, tuple(_grid3(grid)), key[0], tuple(params), compiled)

    def _tail(self, args: tuple, kwargs: Dict[str, Any]) -> Optional[tuple]:
        """The values Triton's binder passes the launcher after the positional arguments, or None (and the
        shortcut off for this kernel) when its internals are not the expected ones."""
        try:
            binder = self.kernel.device_caches[current_device()][-1]
            bound, _specialization, _options = binder(*args, **kwargs)
            values = tuple(bound.values())
            if list(bound)[:len(args)] != list(self.arg_names[:len(args)]) or \
                    any(v is not a for v, a in zip(values, args)):
                raise TypeError("unexpected binder output")
            return values[len(args):]
        except Exception:  # noqa: BLE001 - another Triton: launch through JITFunction.run from now on
            self._usable = False
            self._kept.clear()
            return None


def _rarely_repeat(hits: int, misses: int) -> bool:
    """Whether keys miss too often to be worth building: at least :data:`MIN_MISSES` misses, more than hits."""
    return misses >= MIN_MISSES and misses > hits


def _grid3(grid: Any) -> Any:
    """A launch grid of one, two or three dimensions as three (the grid itself where it has three)."""
    return grid if len(grid) == 3 else (tuple(grid) + (1, 1))[:3]


def _key(args: tuple, kwargs: Dict[str, Any]) -> Optional[Tuple[tuple, list]]:
    """The argument key (see the module docstring) and the positional arguments with each tensor replaced by
    its address, or None when an argument is of another type. The key starts with the current device.

    Built from C-level passes over the arguments (``map``, ``itemgetter``) rather than a Python loop over each
    one: a launch's key is on every eager launch's path, and the decode step has 37 arguments and 11
    keywords. The key holds every argument's type (``True == 1 == 1.0`` in Python; Triton types them apart),
    the scalars' values, each tensor's dtype, device kind and address modulo 16, and the keywords' names,
    types and values."""
    types = tuple(map(type, args))
    layout = _layouts.get(types)
    if layout is None:
        layout = _layout(types)
    if layout is _NOT_KEYED:
        return None
    positions, tensors_of, scalars_of, descriptors_of = layout
    kw_types = tuple(map(type, kwargs.values()))
    if not _KEYWORD_TYPES.issuperset(kw_types):
        return None
    tensors = tensors_of(args)
    ptrs = list(map(_data_ptr, tensors))
    # is_cuda: CPU memory, which Triton's launcher rejects (only on a launch through it)
    key = (current_device(), types, scalars_of(args), tuple(map(_dtype, tensors)), tuple(map(_is_cuda, tensors)),
           tuple(map(_ALIGNMENT, ptrs)), tuple(kwargs), tuple(kwargs.values()), kw_types)
    if descriptors_of is not None:
        described = _descriptor_keys(descriptors_of(args))
        if described is None:
            return None
        key += described
    values = list(args)
    for i, ptr in zip(positions, ptrs):
        values[i] = ptr
    return key, values


def _layout(types: tuple) -> Any:
    """Where the tensors, the scalars and the TMA descriptors sit among positional arguments of these types: the
    tensors' positions and a getter of each kind (each returns a tuple; None for descriptors where there are
    none); :data:`_NOT_KEYED` when an argument is of another type (other tensor subclasses, such as fake or
    functional tensors, have no address to key on). Kept per types tuple."""
    descriptor_types = _descriptor_types()
    if all(t in _TENSOR_TYPES or t in _SCALAR_TYPES or t in descriptor_types for t in types):
        positions = tuple(i for i, t in enumerate(types) if t in _TENSOR_TYPES)
        scalars = tuple(i for i, t in enumerate(types) if t in _SCALAR_TYPES)
        descriptors = tuple(i for i, t in enumerate(types) if t in descriptor_types)
        layout: Any = (positions, _getter(positions), _getter(scalars), _getter(descriptors) if descriptors else None)
    else:
        layout = _NOT_KEYED
    if len(_layouts) >= MAX_KEYS:
        _layouts.clear()
    _layouts[types] = layout
    return layout


def _getter(keys: Sequence[Any], make: Callable[..., Any] = operator.itemgetter) -> Callable[[Any], tuple]:
    """``obj -> tuple(obj[k] for k in keys)`` (``make=operator.attrgetter``: the attributes named), at C speed
    (a getter of one key returns the value itself, hence the wrapping)."""
    if len(keys) > 1:
        return make(*keys)
    if keys:
        get = make(keys[0])
        return lambda obj: (get(obj),)
    return lambda obj: ()


def _descriptor_keys(descriptors: tuple) -> Optional[tuple]:
    """What Triton specializes a launch on in each host-side TMA descriptor, and more: the base tensor's dtype,
    device kind and address modulo 16, the rank, and every field other than the base, shape and strides (block
    shape as a tuple, shared-memory layout, padding, and any a later Triton adds); None where a
    descriptor's base is not a plain tensor. The shape and strides are not in it: the launcher reads them from
    the descriptor at each launch, as it encodes the descriptor's ``CUtensorMap``. (A field that cannot be
    hashed makes the key unhashable: the launch then takes the full path.)"""
    keys = []
    for descriptor in descriptors:
        base = descriptor.base
        if type(base) not in _TENSOR_TYPES:
            return None  # a fake or functional tensor has no address
        fields = _descriptor_fields.get(type(descriptor))
        if fields is None:
            fields = _descriptor_fields[type(descriptor)] = _fields_getter(type(descriptor))
        keys.append((base.dtype, base.is_cuda, base.data_ptr() & 15, len(descriptor.shape),
                     tuple(descriptor.block_shape), *fields(descriptor)))
    return tuple(keys)


def _fields_getter(cls: type) -> Callable[[Any], tuple]:
    """``descriptor -> (its fields but base, shape, strides and block shape)`` for a dataclass of a TMA descriptor
    (the block shape, a list, goes into the key as a tuple; a field of any other unhashable value makes the key
    unhashable, and the launch takes the full path)."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(cls) if f.name not in ("base", "shape", "strides", "block_shape")]
    return _getter(names, operator.attrgetter)


@functools.lru_cache(maxsize=1)
def _descriptor_types() -> frozenset:
    """The classes of Triton's host-side TMA descriptors this Triton has (Gluon's for Hopper and Blackwell, and
    ``triton.tools.tensor_descriptor``'s): a launch passing one is keyed on :func:`_descriptor_keys`."""
    import dataclasses
    import importlib

    found = set()
    for module in ("triton.experimental.gluon.nvidia.hopper", "triton.experimental.gluon.nvidia.blackwell",
                   "triton.tools.tensor_descriptor"):
        try:
            cls = importlib.import_module(module).TensorDescriptor
        except Exception:  # noqa: BLE001 - a Triton without it: such launches go through JITFunction.run
            continue
        if dataclasses.is_dataclass(cls) and \
                {"base", "shape", "strides", "block_shape"} <= {f.name for f in dataclasses.fields(cls)}:
            found.add(cls)
    return frozenset(found)


_NOT_KEYED = object()
_descriptor_fields: Dict[type, Callable[[Any], tuple]] = {}
_layouts: Dict[tuple, Any] = {}
_data_ptr = torch.Tensor.data_ptr
_dtype = operator.attrgetter("dtype")
_is_cuda = operator.attrgetter("is_cuda")
_ALIGNMENT = (15).__and__


class RawLauncher:
    """A kept kernel's launch through the C function of Triton's CUDA launcher, without its Python layers.

    Made only for a launcher whose calling convention this module knows: the driver module's argument format is
    ``iiiKKppOOOOOO`` (grid x, y, z, stream, function, cooperative grid, PDL, global scratch, profile scratch,
    kernel metadata, launch metadata, enter hook, exit hook; then the kernel's parameters, as Tritons 3.5 and 3.6
    have it, read from their sources), the launcher is that module's ``CudaLauncher``, and the kernel needs no
    scratch memory. A kernel with host-side TMA descriptors among its parameters has that C function behind
    Triton's Python wrapper (``wrap_handle_tensordesc``), which expands each descriptor into the encoded
    ``CUtensorMap``, its shape and its strides at every launch: :class:`DescriptorParams` does that expansion
    here, keeping each encoding (see there); a wrapper of another shape gets no raw launch. Called with the grid,
    the device, the positional values (tensors as addresses) and the tail."""

    __slots__ = ("launch", "function", "metadata", "cooperative", "pdl", "stream_of", "descriptors")

    def __init__(self, launch: Callable[..., Any], function: int, metadata: tuple, cooperative: bool,
                 pdl: bool, stream_of: Callable[[int], int], descriptors: Optional["DescriptorParams"] = None) -> None:
        self.launch, self.function, self.metadata = launch, function, metadata
        self.cooperative, self.pdl, self.stream_of = cooperative, pdl, stream_of
        self.descriptors = descriptors

    @staticmethod
    def of(compiled: Any) -> Optional["RawLauncher"]:
        """The raw launch of a compiled kernel, or None where its launcher is not the known one."""
        try:
            from triton.backends.nvidia import driver as cuda_driver
            from triton.runtime.driver import driver as active

            run = compiled.run
            if getattr(cuda_driver, "_BASE_ARGS_FORMAT", None) != KNOWN_LAUNCH_FORMAT \
                    or type(run) is not cuda_driver.CudaLauncher \
                    or run.global_scratch_size or run.profile_scratch_size:
                return None
            unwrapped = DescriptorParams.unwrap(run.launch, getattr(cuda_driver, "make_tensordesc_arg", None))
            if unwrapped is None:
                return None
            launch, descriptors = unwrapped
            return RawLauncher(launch, compiled.function, compiled.packed_metadata, run.launch_cooperative_grid,
                               run.launch_pdl, active.active.get_current_stream, descriptors)
        except Exception:  # noqa: BLE001 - another Triton or backend: launch through Triton's launcher
            return None

    def __call__(self, grid: tuple, device: int, values: list, tail: tuple) -> None:
        if self.descriptors is None:
            self.launch(grid[0], grid[1], grid[2], self.stream_of(device), self.function, self.cooperative,
                        self.pdl, None, None, self.metadata, None, None, None, *values, *tail)
        else:
            self.launch(grid[0], grid[1], grid[2], self.stream_of(device), self.function, self.cooperative,
                        self.pdl, None, None, self.metadata, None, None, None, *self.descriptors([*values, *tail]))


#: Encoded ``CUtensorMap``\ s a :class:`DescriptorParams` keeps before it empties its cache (distinct addresses,
#: shapes and strides of a kernel's descriptors).
MAX_TENSOR_MAPS = 256


class DescriptorParams:
    """The kernel parameters a launcher's C function takes for a launch whose parameters hold host-side TMA
    descriptors: each descriptor replaced by what Triton's ``make_tensordesc_arg`` makes of it (with the
    compiler's metadata of that descriptor: the encoded ``CUtensorMap``, then its shape and strides; without
    metadata, its base, shape, strides and padding twice over), the other parameters as they are.

    Encoding a ``CUtensorMap`` (``cuTensorMapEncodeTiled`` behind Triton's ``fill_tma_descriptor``) takes host
    time at every launch; the encoding depends only on the descriptor's base address, shape, strides and padding
    and on the metadata (fixed per compiled kernel and position: block shape, swizzle, element type), so it is
    kept per (position, address, shape, strides, padding) and passed again while those repeat: the launcher
    copies the 128 bytes into the kernel's parameters at each launch, and an address that is freed and reused
    by another tensor of the same shape and strides is encoded the same. Without metadata nothing is kept (the
    expansion holds the base tensor). At most :data:`MAX_TENSOR_MAPS` encodings are kept."""

    __slots__ = ("positions", "metas", "make", "encoded")

    def __init__(self, positions: Sequence[int], metas: Sequence[Any], make: Callable[[Any, Any], list]) -> None:
        self.positions, self.metas, self.make = tuple(positions), tuple(metas), make
        self.encoded: Dict[tuple, list] = {}

    #: The free variables of Triton 3.6's wrapper (``wrap_handle_tensordesc``'s ``inner``): the C function, the
    #: positions of the descriptors among the kernel's parameters and their metadata.
    WRAPPER_CELLS = frozenset({"launcher", "tensordesc_indices", "tensordesc_meta"})

    @classmethod
    def unwrap(cls, launch: Callable[..., Any], make: Optional[Callable[[Any, Any], list]]
               ) -> Optional[Tuple[Callable[..., Any], Optional["DescriptorParams"]]]:
        """``(C function, DescriptorParams or None)`` of a ``CudaLauncher``'s ``launch``: the function itself
        where it is not a Python function (a kernel without descriptors: Triton leaves the C function unwrapped),
        the C function and the expansion where it is Triton's descriptor wrapper (known by its free variables),
        None for a wrapper of another shape or without Triton's ``make``."""
        code = getattr(launch, "__code__", None)
        if code is None:
            return launch, None
        if make is None or set(code.co_freevars) != cls.WRAPPER_CELLS or launch.__closure__ is None:
            return None
        cells = {name: cell.cell_contents for name, cell in zip(code.co_freevars, launch.__closure__)}
        positions, metas = sorted(cells["tensordesc_indices"]), list(cells["tensordesc_meta"] or ())
        if not metas:
            metas = [None] * len(positions)
        if len(metas) != len(positions) or not callable(cells["launcher"]):
            return None
        return cells["launcher"], cls(positions, metas, make)

    def __call__(self, params: list) -> list:
        """``params`` (the kernel's, in order) with each descriptor expanded."""
        out: list = []
        start = 0
        encoded = self.encoded
        for i, meta in zip(self.positions, self.metas):
            out += params[start:i]
            descriptor = params[i]
            if meta is None:
                out += self.make(descriptor, None)
            else:
                key = (i, descriptor.base.data_ptr(), *descriptor.shape, *descriptor.strides, descriptor.padding)
                expanded = encoded.get(key)
                if expanded is None:
                    if len(encoded) >= MAX_TENSOR_MAPS:
                        encoded.clear()
                    expanded = encoded[key] = list(self.make(descriptor, meta))
                out += expanded
            start = i + 1
        out += params[start:]
        return out


class FrozenLaunch:
    """One kernel launch with its grid, device and parameters fixed (:meth:`CachedLaunch.frozen`): called with no
    arguments, it calls the launcher's C function on the device's current stream. It holds no tensor, only
    addresses and encoded TMA descriptors, so it is only ever called for tensors at the same addresses, with the
    same shapes, strides and dtypes (:class:`LaunchMemo`'s keys)."""

    __slots__ = ("raw", "grid", "device", "params", "compiled")

    def __init__(self, raw: RawLauncher, grid: tuple, device: int, params: tuple, compiled: Any = None) -> None:
        self.raw, self.grid, self.device, self.params = raw, grid, device, params
        self.compiled = compiled  # held, so that its module stays loaded while the launch is kept

    def __call__(self) -> None:
        raw, grid = self.raw, self.grid
        raw.launch(grid[0], grid[1], grid[2], raw.stream_of(self.device), raw.function, raw.cooperative, raw.pdl,
                   None, None, raw.metadata, None, None, None, *self.params)


#: Launch sequences a :class:`LaunchMemo` keeps before it empties itself (distinct shapes and addresses).
MAX_MEMO_KEYS = 256


class LaunchMemo:
    """Whole sequences of eager launches kept by an exact key that their caller builds, and repeated without
    their arguments being built, keyed or bound again.

    An eager forward whose every input, output and scratch tensor sits at the address, with the shape, strides
    and dtype, of an earlier one (a model's layers run again with a caching allocator) launches exactly what
    that one launched. The caller (``ssd_forward``) builds a key of all of that, every scalar and option it
    passes, and the current device; :meth:`run` launches the kept sequence for it, each launch a
    :class:`FrozenLaunch`, or returns False; otherwise the caller launches as usual through :meth:`recorder`'s
    ``wrap`` and keeps the sequence with :meth:`keep`. A key must hold everything the launches depend on: a
    frozen launch reads nothing of its caller's arguments. Nothing is kept or run while a Triton launch hook is
    registered; the caller keeps nothing while a profiler records (its ranges and byte counts are launched
    around each kernel). A memo whose keys keep missing (at least :data:`MIN_MISSES`, more misses than hits:
    a server's varying lengths) stops keeping; at :data:`MAX_MEMO_KEYS` sequences it empties itself."""

    __slots__ = ("_kept", "_hits", "_misses", "usable")

    def __init__(self) -> None:
        self._kept: Dict[tuple, Tuple[FrozenLaunch, ...]] = {}
        self._hits = self._misses = 0
        self.usable = True

    def run(self, key: tuple) -> bool:
        """Launch the sequence kept for ``key`` and return True, or return False (none kept, or a hook)."""
        launches = self._kept.get(key)
        if launches is None or not _hooks_idle():
            return False
        self._hits += 1
        for frozen in launches:
            frozen()
        return True

    def recorder(self) -> "LaunchRecorder":
        """A ``wrap`` (as ``ssd_forward`` takes one) that launches each kernel through :func:`direct` and keeps
        each launch frozen, for :meth:`keep`."""
        return LaunchRecorder()

    def keep(self, key: tuple, recorder: "LaunchRecorder") -> None:
        """Keep the launches ``recorder`` saw for ``key``, where each has a frozen form."""
        self._misses += 1
        if _rarely_repeat(self._hits, self._misses):
            self.usable = False
            self._kept.clear()
            return
        if not recorder.launches or any(frozen is None for frozen in recorder.launches):
            return
        if len(self._kept) >= MAX_MEMO_KEYS:
            self._kept.clear()
        self._kept[key] = tuple(recorder.launches)


class LaunchRecorder:
    """``wrap(kernel)[grid](*args, **kwargs)`` as :func:`direct` launches it, each launch's frozen form (or None)
    appended to :attr:`launches`."""

    __slots__ = ("launches",)

    def __init__(self) -> None:
        self.launches: list = []

    def __call__(self, kernel: Any) -> Any:
        return _Recording(direct(kernel), self.launches)


class _Recording:
    __slots__ = ("wrapped", "launches")

    def __init__(self, wrapped: Any, launches: list) -> None:
        self.wrapped, self.launches = wrapped, launches

    def __getitem__(self, grid: Any) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            out = self.wrapped[grid](*args, **kwargs)
            wrapped = self.wrapped
            self.launches.append(wrapped.frozen(grid, args, kwargs) if isinstance(wrapped, CachedLaunch) else None)
            return out
        return run


def memo_of(kernel: Any) -> Optional[LaunchMemo]:
    """The :class:`LaunchMemo` of ``kernel``'s wrapper (:func:`direct`), where the whole shortcut is on and the
    memo still in use, else None. A caller keeps its launch sequences in the memo of its first kernel; the
    memo goes with the wrapper when the wrappers are made anew."""
    wrapper = direct(kernel)
    memo = getattr(wrapper, "memo", None)
    return memo if memo is not None and memo.usable else None


#: The argument format of the CUDA launchers whose C function :class:`RawLauncher` calls.
KNOWN_LAUNCH_FORMAT = "iiiKKppOOOOOO"


def _hooks_idle() -> bool:
    """Whether no launch hook is registered with Triton (a hook needs Triton's own launch path)."""
    runtime = _runtime_knobs()
    if runtime is None:
        return False
    for hook in (runtime.launch_enter_hook, runtime.launch_exit_hook):
        if hook is not None and getattr(hook, "calls", True):  # an empty HookChain (3.6) or None: idle
            return False
    return True


@functools.lru_cache(maxsize=1)
def _runtime_knobs() -> Any:
    try:
        from triton import knobs

        return knobs.runtime
    except Exception:  # noqa: BLE001 - an older Triton: no raw launches
        return None


_SCALARS = (int, float, bool, type(None))
#: Tensors whose address keys a launch: plain ones and parameters (a model's weights, D, dt_bias).
_TENSORS = (torch.Tensor, torch.nn.Parameter)
_TENSOR_TYPES = frozenset(_TENSORS)
_SCALAR_TYPES = frozenset(_SCALARS)
_KEYWORD_TYPES = frozenset(_SCALARS + (str,))


#: Each kernel's wrapper by the kernel's ``id`` (with the kernel, so that a recycled id is told apart): a Triton
#: kernel hashes through its source's cache key under a lock, four times the cost of an ``id`` lookup.
_wrapped: Dict[int, Tuple[Any, Any]] = {}


def direct(kernel: Any) -> Any:
    """``kernel`` for an eager launch: a :class:`CachedLaunch` of it where the shortcut applies, else the
    kernel itself. One wrapper per kernel, made on first use."""
    entry = _wrapped.get(id(kernel))
    if entry is None or entry[0] is not kernel:
        how = mode()
        entry = _wrapped[id(kernel)] = (kernel, CachedLaunch(kernel, direct_calls=how in ("keyed", "on"),
                                                             memo=how == "on") if how != "off" else kernel)
    return entry[1]


def wrapper_of(kernel: Any) -> Any:
    """The wrapper :func:`direct` made for ``kernel`` (the kernel itself with the shortcut off), or None."""
    entry = _wrapped.get(id(kernel))
    return entry[1] if entry is not None and entry[0] is kernel else None
