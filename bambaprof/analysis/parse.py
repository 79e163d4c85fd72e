"""Decoding trace JSON into events, with swappable backends.

- ``msgspec`` (default): the document is first split into raw event slices
  (``traceEvents: List[Raw]``, no parsing of their contents), then decoded
  batch by batch into slotted, GC-free structs that keep only the fields the
  analysis reads, every other key skipped in C. Shapes (``Input Dims``,
  ``Input type``, ``Concrete Inputs``) stay raw until an analysis asks for them.
  Only one batch of structs is alive at a time, so memory stays near the size
  of the file. A batch that does not fit the typed schema (drift: a string
  timestamp, ``args`` that is not an object) is decoded event by event, each
  failing event through the lenient path: drift costs only the odd events.
- ``json``: the standard library on the whole document, building the same
  structs by hand. Slower and hungrier; accepts any JSON value anywhere.

Both accept the JSON Object Format (``{"traceEvents": [...], ...}``) and the
JSON Array Format (a bare list of events) of the Chrome trace format, whose
closing ``]`` is optional (a tracer may stop before writing it; a trailing
comma is allowed too), text that starts with a UTF-8 byte-order mark, and
strings that are not valid UTF-8 (a kernel name cut inside a character): such
an event is kept, its bad bytes replaced by U+FFFD (counted as lenient by the
``msgspec`` backend). Numbers JSON cannot spell that tracers write anyway
(``NaN``, ``Infinity``, ``nan``, ``inf``) are read as unknown, with a note
(:func:`odd_numbers_as_null`).
"""

from __future__ import annotations

import json
import mmap
import re
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import msgspec

from .source import TraceError

BACKENDS = ("auto", "msgspec", "json")
BATCH = 16384

Num = Optional[float]
Int = Optional[int]
Key = Union[int, str, None]


class Args(msgspec.Struct, frozen=True, gc=False):
    """The ``args`` keys the analysis uses (Kineto names); everything else is skipped."""

    external_id: Int = msgspec.field(default=None, name="External id")
    correlation: Int = None
    device: Int = None
    stream: Int = None
    grid: Any = None
    block: Any = None
    registers: Int = msgspec.field(default=None, name="registers per thread")
    shared_memory: Int = msgspec.field(default=None, name="shared memory")
    est_occupancy: Num = msgspec.field(default=None, name="est. achieved occupancy %")
    bytes: Num = None
    input_dims: msgspec.Raw = msgspec.field(default=None, name="Input Dims")  # type: ignore[assignment]
    input_type: msgspec.Raw = msgspec.field(default=None, name="Input type")  # type: ignore[assignment]
    concrete_inputs: msgspec.Raw = msgspec.field(default=None, name="Concrete Inputs")  # type: ignore[assignment]
    input_strides: msgspec.Raw = msgspec.field(default=None, name="Input Strides")  # type: ignore[assignment]
    kernel_num_gb: Num = None
    kernel_flop: Num = None
    kernel_backend: Optional[str] = None
    sequence_number: Int = msgspec.field(default=None, name="Sequence number")  # autograd: forward op <-> node
    fwd_thread_id: Int = msgspec.field(default=None, name="Fwd thread id")  # > 0 on backward nodes
    total_allocated: Num = msgspec.field(default=None, name="Total Allocated")
    total_reserved: Num = msgspec.field(default=None, name="Total Reserved")
    device_id: Int = msgspec.field(default=None, name="Device Id")
    device_type: Int = msgspec.field(default=None, name="Device Type")
    # a collective's parameters (PyTorch's record_param_comms, on the op and on NCCL kernels of newer versions)
    collective: Any = msgspec.field(default=None, name="Collective name")
    in_nelems: Any = msgspec.field(default=None, name="In msg nelems")
    out_nelems: Any = msgspec.field(default=None, name="Out msg nelems")
    group_size: Any = msgspec.field(default=None, name="Group size")
    comm_dtype: Any = msgspec.field(default=None, name="dtype")


#: The ``args`` of an event without any: one shared, immutable instance.
EMPTY_ARGS = Args()


class Event(msgspec.Struct, gc=False):
    """One trace event (Chrome trace format fields)."""

    ph: Optional[str] = None
    cat: Optional[str] = None
    name: Optional[str] = None
    pid: Key = None
    tid: Key = None
    ts: Num = None
    dur: Num = None
    id: Key = None
    args: Optional[Args] = EMPTY_ARGS  # absent: the shared empty Args; ``null``: None


class RawDocument(msgspec.Struct):
    """A trace document with its events left as raw JSON slices."""

    traceEvents: Union[List[msgspec.Raw], msgspec.UnsetType] = msgspec.UNSET
    deviceProperties: Any = None
    computeProperties: Any = None
    distributedInfo: Any = None
    schemaVersion: Any = None
    displayTimeUnit: Any = None
    baseTimeNanoseconds: Any = None
    traceName: Any = None
    cuda_runtime_version: Any = None
    cuda_driver_version: Any = None
    roctracer_version: Any = None
    rocm_version: Any = None
    hip_runtime_version: Any = None


#: Document-level keys kept as metadata: every field of the document but the events.
META_FIELDS = tuple(f for f in RawDocument.__struct_fields__ if f != "traceEvents")

#: The document's keys before its events, with any value where the events stand (see :mod:`.stream`).
HeaderDocument = msgspec.defstruct("HeaderDocument", [(f, Any, None) for f in RawDocument.__struct_fields__])

_doc_decoder = msgspec.json.Decoder(Union[RawDocument, List[msgspec.Raw]])
_batch_decoder = msgspec.json.Decoder(List[Event])
_event_decoder = msgspec.json.Decoder(Event)
_raw_list_decoder = msgspec.json.Decoder(List[msgspec.Raw])
_ARG_NAMES: Dict[str, str] = {
    enc: py for py, enc in zip(Args.__struct_fields__, Args.__struct_encode_fields__)
}
_RAW_ARGS = {"input_dims", "input_type", "concrete_inputs", "input_strides"}


def _num(x: Any) -> Optional[float]:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _int(x: Any) -> Optional[int]:
    v = _num(x)
    return int(v) if v is not None and v == v and abs(v) != float("inf") else None


def _key(x: Any) -> Any:
    return x if isinstance(x, (int, str)) or x is None else str(x)


def _args_from(value: Any) -> Optional[Args]:
    if not isinstance(value, dict):
        return None
    kw: Dict[str, Any] = {}
    for enc, py in _ARG_NAMES.items():
        if enc not in value:
            continue
        v = value[enc]
        if py in _RAW_ARGS:
            v = msgspec.Raw(msgspec.json.encode(v))
        elif py in ("grid", "block"):
            pass
        elif py == "kernel_backend":
            v = v if isinstance(v, str) else None
        elif py in ("est_occupancy", "bytes", "kernel_num_gb", "kernel_flop", "total_allocated", "total_reserved"):
            v = _num(v)
        else:
            v = _int(v)
        kw[py] = v
    return Args(**kw)


def event_from_dict(d: Any) -> Optional[Event]:
    """A lenient :class:`Event` from any decoded JSON value (``None`` if it is not an object)."""
    if not isinstance(d, dict):
        return None
    name = d.get("name")
    return Event(
        ph=d.get("ph") if isinstance(d.get("ph"), str) else None,
        cat=d.get("cat") if isinstance(d.get("cat"), str) else None,
        name=name if isinstance(name, str) or name is None else str(name),
        pid=_key(d.get("pid")), tid=_key(d.get("tid")), ts=_num(d.get("ts")), dur=_num(d.get("dur")),
        id=_key(d.get("id")), args=_args_from(d.get("args")),
    )


def _decode_batch(raws: List[msgspec.Raw]) -> Tuple[List[Event], int, int]:
    """Decode one batch; returns (events, number decoded leniently, number that could not be decoded)."""
    try:
        return _batch_decoder.decode(b"[" + b",".join(raws) + b"]"), 0, 0
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    out: List[Event] = []
    lenient = bad = 0
    for raw in raws:
        try:
            out.append(_event_decoder.decode(raw))
        except msgspec.ValidationError:
            try:
                ev = event_from_dict(msgspec.json.decode(raw))
            except msgspec.DecodeError:
                bad += 1
                continue
            if ev is not None:
                out.append(ev)
                lenient += 1
        except msgspec.DecodeError:  # not valid JSON text inside (invalid UTF-8 in a string)
            ev = _event_replacing_bad_utf8(raw)
            if ev is None:
                bad += 1
            else:
                out.append(ev)
                lenient += 1
    return out, lenient, bad


def _event_replacing_bad_utf8(raw: Any) -> Optional[Event]:
    """An event whose JSON text has bytes that are not UTF-8, decoded with those bytes replaced by U+FFFD;
    ``None`` when it is not JSON even then."""
    try:
        return event_from_dict(json.loads(bytes(raw).decode("utf-8", "replace")))
    except (ValueError, RecursionError):
        return None


def decode_piece(text: Any) -> Tuple[List[Event], int, int]:
    """Decode a piece of whole events as a JSON array (``[{...},{...}]``, see :mod:`.stream`; bytes, bytearray
    or memoryview); returns (events, number decoded leniently, number not valid JSON text). Raises
    :class:`msgspec.DecodeError` when the piece is not an array of whole JSON values."""
    try:
        return _batch_decoder.decode(text), 0, 0
    except msgspec.ValidationError:
        pass
    return _decode_batch(_raw_list_decoder.decode(text))


class DecodedTrace:
    """Metadata plus the events, handed out once, in batches (see :meth:`batches`)."""

    def __init__(self, meta: Dict[str, Any], raws: Optional[List[msgspec.Raw]], events: Optional[List[Event]],
                 backend: str, buffer: Any = None) -> None:
        self.meta = meta
        self._raws = raws
        self._events = events
        self.backend = backend
        self.lenient = 0
        self.undecodable = 0  # events skipped: not valid JSON, even with bad UTF-8 replaced
        self._buffer = buffer if isinstance(buffer, mmap.mmap) else None

    def __len__(self) -> int:
        return len(self._raws) if self._raws is not None else len(self._events or [])

    def batches(self) -> Iterator[List[Event]]:
        """Yield lists of events; with the msgspec backend each batch is decoded on demand."""
        if self._events is not None:
            yield self._events
            return
        raws = self._raws or []
        pager = _PageReleaser(self._buffer)
        for start in range(0, len(raws), BATCH):
            chunk = raws[start:start + BATCH]
            events, lenient, bad = _decode_batch(chunk)
            self.lenient += lenient
            self.undecodable += bad
            pager.release_through(chunk[-1])
            raws[start:start + BATCH] = [None] * len(chunk)  # these slices are done: let them go
            del chunk
            yield events


class _PageReleaser:
    """Drops the pages of a read-only file mapping once the events in them are decoded.

    The mapping is file-backed and clean, so ``MADV_DONTNEED`` only lets the kernel
    reclaim the pages; a later read (a shape decoded on demand) faults them back from
    the page cache. This keeps resident memory near one batch of the file rather
    than the whole file.
    """

    def __init__(self, buffer: Optional[mmap.mmap]) -> None:
        self._mm = buffer if buffer is not None and hasattr(buffer, "madvise") and hasattr(mmap, "MADV_DONTNEED") else None
        self._done = 0
        if self._mm is not None:
            import numpy as np

            view = np.frombuffer(self._mm, dtype=np.uint8)
            self._base = view.ctypes.data
            del view

    def release_through(self, raw: Any) -> None:
        if self._mm is None:
            return
        import numpy as np

        view = np.frombuffer(raw, dtype=np.uint8)
        end = view.ctypes.data + len(view) - self._base
        del view
        if not 0 <= end <= len(self._mm):
            self._mm = None  # the raw slice is not inside the mapping (a copy): nothing to release
            return
        end -= end % mmap.PAGESIZE
        if end > self._done:
            self._mm.madvise(mmap.MADV_DONTNEED, self._done, end - self._done)
            self._done = end


#: What the readers take, for the error of a file that is none of them.
READABLE = ("a Kineto/Chrome JSON trace (.json, .json.gz), an Nsight Systems report or export (.nsys-rep, "
            ".sqlite), a rocprofv3 *kernel_trace.csv, results.json or rocpd database")


def _not_json_hint(data: Any) -> str:
    """``"; it does not start as JSON ..."`` where the text's first byte other than white space (or a byte-order
    mark) opens neither an object nor an array, else ``""``."""
    head = bytes(memoryview(data)[:4096]).lstrip(b" \t\r\n")
    head = head[3:].lstrip(b" \t\r\n") if head.startswith(b"\xef\xbb\xbf") else head
    if head[:1] in (b"{", b"["):
        return ""
    return f"; it does not start as JSON, and bambaprof reads {READABLE}"


def _decode_msgspec(data: Any) -> DecodedTrace:
    obj = _doc_decoder.decode(data)
    if isinstance(obj, list):
        return DecodedTrace({}, obj, None, "msgspec", data)
    if obj.traceEvents is msgspec.UNSET:
        raise TraceError("not a Kineto/Chrome trace: the JSON object has no 'traceEvents'")
    meta = {f: getattr(obj, f) for f in META_FIELDS if getattr(obj, f) is not None}
    return DecodedTrace(meta, obj.traceEvents, None, "msgspec", data)


def _decode_json(data: Any) -> DecodedTrace:
    try:
        obj = json.loads(bytes(data).decode("utf-8", "replace"))
    except ValueError as exc:
        raise TraceError(f"invalid JSON ({exc}){_not_json_hint(data)}") from None
    if isinstance(obj, list):
        raw, meta = obj, {}
    elif isinstance(obj, dict):
        if "traceEvents" not in obj:
            raise TraceError("not a Kineto/Chrome trace: the JSON object has no 'traceEvents'")
        raw = obj["traceEvents"]
        meta = {f: obj[f] for f in META_FIELDS if obj.get(f) is not None}
    else:
        raise TraceError(f"not a Kineto/Chrome trace: the JSON document is a {type(obj).__name__}")
    if not isinstance(raw, list):
        raise TraceError("not a Kineto/Chrome trace: 'traceEvents' is not a list")
    events = [e for e in (event_from_dict(d) for d in raw) if e is not None]
    return DecodedTrace(meta, None, events, "json")


_BOM = b"\xef\xbb\xbf"
#: JSON's whitespace bytes.
JSON_WS = b" \t\r\n"


def without_bom(data: Any) -> Any:
    """``data`` (bytes-like) without a leading UTF-8 byte-order mark; a view, not a copy."""
    return memoryview(data)[len(_BOM):] if bytes(data[:len(_BOM)]) == _BOM else data


def _text_start(view: memoryview) -> int:
    """The offset of the first byte that is not JSON whitespace (``len(view)`` when there is none)."""
    start = 0
    while start < len(view) and view[start] in JSON_WS:
        start += 1
    return start


def closed_array(data: Any) -> Optional[bytes]:
    """The text of a JSON Array Format trace whose closing ``]`` is missing (the Chrome trace format allows
    it, with or without a trailing comma), closed; ``None`` when the text is not such an array."""
    view = memoryview(data)
    start = _text_start(view)
    if start == len(view) or view[start] != ord("["):
        return None
    text = bytes(view[start:]).rstrip(JSON_WS).rstrip(b",").rstrip(JSON_WS)
    return None if text.endswith(b"]") and text != b"[" else text + b"]"


#: How the note on a trace cut short begins (``compare`` warns on it).
CUT_SHORT_NOTE = "the trace is cut short"
_EVENT_END = re.compile(rb"\}\s*,")
#: Cuts tried, from the end, when a trace is cut short (each try decodes the text before the cut once).
CUT_TRIES = 3


def before_cut(data: Any) -> Optional[Tuple[bytes, int]]:
    """The text of a trace that ends in the middle of its events (a cut file), ended after the last whole event
    and closed (``]}`` for the Object Format, ``]`` for the Array Format), with the byte offset of the cut;
    ``None`` when the text does not start as a trace. The cut is found from the end, at ``}`` followed by
    ``,``; one that lies inside a string fails to decode and the one before it is tried (:data:`CUT_TRIES`)."""
    view = memoryview(data)
    start = _text_start(view)
    if start == len(view) or view[start] not in b"{[":
        return None
    closing = b"]}" if view[start] == ord("{") else b"]"
    if closing == b"]}":
        head = bytes(view[start:start + (1 << 20)])
        if b'"traceEvents"' not in head:  # events after a megabyte of metadata: not a trace this reads
            return None
    last = bytes(view[max(start, len(view) - 64):])
    tail = last.rstrip(JSON_WS + b",")
    if tail.endswith(b"}"):  # cut right after an event (and its comma): that event is whole
        end = len(view) - (len(last) - len(tail))
        return bytes(view[start:end]) + closing, end
    window = 1 << 20
    while True:
        lo = max(start, len(view) - window)
        ends = [m.start() for m in _EVENT_END.finditer(view, lo)]
        if ends or lo == start:
            break
        window *= 8
    return (bytes(view[start:ends[-1] + 1]) + closing, ends[-1] + 1) if ends else None


def decode(data: Any, backend: str = "auto") -> DecodedTrace:
    """Decode trace JSON with ``backend`` (``auto`` is ``msgspec``). Text cut short inside its events is read
    up to the last whole event, with a note in ``meta["reader_notes"]``."""
    if backend not in BACKENDS:
        raise TraceError(f"unknown parser backend {backend!r} (choose from {', '.join(BACKENDS)})")
    data = without_bom(data)
    try:
        return _decode_reading_odd_numbers(data, backend)
    except TraceError:
        closed = closed_array(data)
        if closed is not None:
            try:
                return _decode_reading_odd_numbers(closed, backend)
            except TraceError:
                pass
        salvaged = _salvage(data, backend)
        if salvaged is None:
            raise
        return salvaged


#: Numbers JSON cannot spell that tracers write anyway: Python's ``json`` writes ``NaN`` and ``Infinity``, C's
#: printf ``nan`` and ``inf`` (Kineto once wrote a memcpy's bandwidth as ``inf``: pytorch/kineto#105).
_ODD_NUMBER = re.compile(rb"-?(?:NaN|nan|NAN|Infinity|infinity|INFINITY|inf|Inf|INF)(?![A-Za-z0-9_])")
ODD_SPELLINGS = "NaN, Infinity, nan, inf"
_BYTE_AT = re.compile(r"\(byte (\d+)\)")
_ESCAPES_BEFORE_QUOTE = re.compile(rb'(\\+)"')


def _decode_reading_odd_numbers(data: Any, backend: str) -> DecodedTrace:
    """:func:`_decode`, and where it fails on numbers spelled as NaN or infinity, the text with them as unknown
    (:func:`odd_numbers_as_null`), with a note that counts them."""
    try:
        return _decode(data, backend)
    except TraceError as error:
        unknown = odd_numbers_as_null(data, str(error))
        if unknown is None:
            raise
    text, count = unknown
    decoded = _decode(text, backend)
    decoded.meta.setdefault("reader_notes", []).append(
        f"{count:,} number{'s' if count != 1 else ''} written as NaN or infinity (not JSON: {ODD_SPELLINGS}) "
        "read as unknown")
    return decoded


def odd_numbers_as_null(data: Any, error: str = "") -> Optional[Tuple[bytes, int]]:
    """The text with each number spelled as NaN or infinity outside strings (:data:`ODD_SPELLINGS`, signed or
    not) replaced by ``null``, and how many there were; ``None`` when there are none. Given msgspec's
    ``error``, only where it names the byte such a number starts at (other malformed text is not scanned)."""
    if error and "(char " not in error:  # Python's json counts characters, not bytes: no check then
        at = _BYTE_AT.search(error)
        if at is None or not _ODD_NUMBER.match(data, int(at.group(1))):
            return None  # checked on the text as it is: no copy of a large trace for other malformed text
    view = bytes(data)
    pieces, last, scanned, inside, count = [], 0, 0, False, 0
    for match in _ODD_NUMBER.finditer(view):
        start = match.start()
        inside ^= bool(_unescaped_quotes(view, scanned, start) & 1)
        scanned = start
        if inside or (start and (view[start - 1:start].isalnum() or view[start - 1] in b"_.")):
            continue  # in a string, or the end of a longer word
        pieces += [view[last:start], b"null"]
        last, count = match.end(), count + 1
    if not count:
        return None
    pieces.append(view[last:])
    return b"".join(pieces), count


def _unescaped_quotes(view: bytes, lo: int, hi: int) -> int:
    """The ``"`` in ``view[lo:hi]`` that open or close a string (not those after an odd run of backslashes)."""
    escaped = sum(len(m.group(1)) & 1 for m in _ESCAPES_BEFORE_QUOTE.finditer(view, lo, hi))
    return view.count(b'"', lo, hi) - escaped


_any_value = msgspec.json.Decoder(msgspec.Raw)


def cut_short(data: Any) -> bool:
    """Whether the JSON text ends before its document does (a cut file), rather than being malformed."""
    try:
        _any_value.decode(data)
    except msgspec.DecodeError as exc:
        if "truncated" in str(exc):
            return True
        unknown = odd_numbers_as_null(data, str(exc))  # a number spelled as NaN before the cut
        return unknown is not None and cut_short(unknown[0])
    except RecursionError:
        return False
    return False


def _salvage(data: Any, backend: str) -> Optional[DecodedTrace]:
    """The events before the cut of a trace cut short (see :func:`before_cut`), or ``None`` when the text is
    not cut short (malformed text stays an error) or no cut decodes."""
    view = memoryview(data)
    if not cut_short(view):
        return None
    end = len(view)
    for _ in range(CUT_TRIES):
        try:
            found = before_cut(view[:end])  # a copy of the text before the cut, closed
        except MemoryError:
            return None  # no room for the copy: the original error stands
        if found is None:
            return None
        text, cut = found
        try:
            decoded = _decode_reading_odd_numbers(text, backend)
        except TraceError:
            end = cut - 1  # a "}," inside a string: try the one before it
            continue
        decoded.meta.setdefault("reader_notes", []).insert(
            0, f"{CUT_SHORT_NOTE} (its text breaks off after {len(view):,} bytes): "
            f"the events before the cut, at byte {cut:,}, were read; the rest is lost")
        return decoded
    return None


def _decode(data: Any, backend: str) -> DecodedTrace:
    try:
        if backend == "json":
            return _decode_json(data)
        return _decode_msgspec(data)
    except RecursionError:
        raise TraceError(f"JSON nested deeper than Python's recursion limit ({sys.getrecursionlimit()} "
                         "levels): not a Kineto/Chrome trace") from None
    except msgspec.ValidationError as exc:
        raise TraceError(f"not a Kineto/Chrome trace ({exc})") from None
    except msgspec.DecodeError as exc:
        raise TraceError(f"invalid JSON ({exc}){_not_json_hint(data)}") from None
