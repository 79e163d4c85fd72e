"""A trace's events in pieces of whole events, read without holding the document.

:class:`EventPieces` reads JSON text from a :class:`~.source.TextReader` and
hands out *pieces*: runs of whole events as they stand in the file (``{...},
{...}``, the separators included), as JSON arrays, about :data:`PIECE_BYTES`
each, while memory holds little more than one piece. Both forms of the
Chrome trace format are read: the JSON Object Format (metadata keys before
and after ``traceEvents`` are collected into :attr:`EventPieces.meta`) and the
JSON Array Format. For an uncompressed file the pieces are handed out as (offset, length) ranges of the
file, found by reading only the last 64 KB before each cut, so that whoever decodes a piece reads it (worker
processes ``pread`` their own pieces); gzip text is inflated as a stream and its pieces handed out as bytes.

A piece ends where the text shows ``}``, optional whitespace, ``,``, optional
whitespace, ``{``. That pattern can also occur inside a string (a kernel name
such as ``f<{lambda()#1},{...}>``); a piece cut there is not a list of whole
events, so decoding it (:func:`~.parse.decode_piece`) fails: a piece that
decodes is, by induction from the first event, exactly a run of whole events.
Whoever decodes the pieces therefore checks the cuts for free, and on any
failure falls back to reading the document whole (:class:`NotStreamable`).
Anything else this reader does not expect (no ``traceEvents`` key in plain
text, a value that is not a list, text after the document) is a
:class:`NotStreamable` as well, and the whole-document reader then decides,
with its own error messages.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Generator, Iterator, List, Optional, Tuple, Union

import msgspec

from .parse import JSON_WS, META_FIELDS, HeaderDocument, RawDocument
from .source import TextReader

#: Target size of a piece of events (bytes of JSON text): about 13,000 Kineto events.
PIECE_BYTES = 4 << 20
#: Largest header (text before the events) or single piece searched for a cut before giving up (bytes).
SEARCH_LIMIT = 256 << 20
_READ = 1 << 20
_MIN_READ = 64 << 10
_WINDOW = 64 << 10  # bytes searched back from a piece's target end for a cut
_EVENTS_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
_CUT = re.compile(rb"\}\s*,\s*\{")


class NotStreamable(Exception):
    """The text is not in a form :class:`EventPieces` reads: read the document whole."""


_list_of_raw = msgspec.json.Decoder(List[msgspec.Raw])
_header = msgspec.json.Decoder(HeaderDocument)
_tail = msgspec.json.Decoder(RawDocument)


def _spans(pattern: "re.Pattern[bytes]", buf: bytearray, start: int, end: int) -> List[Tuple[int, int]]:
    """(start, end) of each match in ``buf[start:end]`` (positions only: a live match would pin the buffer)."""
    return [m.span() for m in pattern.finditer(buf, start, end)]


def _bracketed(buf: bytearray, end: int) -> bytearray:
    """``[`` + ``buf[:end]`` + ``]`` in one copy."""
    out = bytearray(end + 2)
    out[0], out[-1] = 0x5B, 0x5D
    with memoryview(buf) as view:
        out[1:end + 1] = view[:end]
    return out


class PieceText:
    """The text of pieces as JSON arrays, reading file ranges into one reused buffer (no new memory per
    piece). The text returned for a range is valid until the next call: decode it, then drop the events
    (their raw slices point into the buffer) before reading the next."""

    def __init__(self, fd: Optional[int]) -> None:
        self.fd = fd
        self._buf = bytearray()

    def __call__(self, item: Union[bytearray, bytes, Tuple[int, int]]) -> Union[bytearray, bytes, memoryview]:
        if not isinstance(item, tuple):
            return item
        if self.fd is None:
            raise ValueError("a file range without a file")
        offset, length = item
        if len(self._buf) < length + 2:
            self._buf = bytearray(max(length + 2, 2 * len(self._buf)))  # a new one: views of the old stay valid
        view = memoryview(self._buf)[:length + 2]
        view[0], view[length + 1] = 0x5B, 0x5D
        if os.preadv(self.fd, [view[1:length + 1]], offset) != length:
            raise OSError(f"short read at byte {offset} of the trace")
        return view


class EventPieces:
    """Iterate to get the pieces (bytes); :attr:`meta` holds the document's metadata once iteration ends."""

    def __init__(self, reader: TextReader, piece_bytes: Optional[int] = None) -> None:
        self.reader = reader
        self.piece_bytes = piece_bytes or PIECE_BYTES
        #: Hand out (offset, length) ranges of the file rather than text (an uncompressed file, where the OS
        #: reads at offsets): the parent then reads only around each cut, and whoever decodes a piece reads it.
        self.file_ranges = not reader.compressed and hasattr(os, "preadv")
        self.meta: Dict[str, Any] = {}
        self._buf = bytearray()
        self._eof = False

    def _fill(self, want: int) -> None:
        """Read until the buffer holds ``want`` bytes or the text ends."""
        while len(self._buf) < want and not self._eof:
            chunk = self.reader.read(max(_MIN_READ, want - len(self._buf)))
            if chunk:
                self._buf += chunk
            else:
                self._eof = True

    def _events_start(self) -> bool:
        """Consume the text up to the first event; ``True`` for the Object Format."""
        self._fill(_READ)
        buf = self._buf
        start = len(buf) - len(buf.lstrip(JSON_WS))
        if start == len(buf):
            raise NotStreamable("no JSON text")
        if buf[start] == ord("["):
            del buf[:start + 1]
            return False
        if buf[start] != ord("{"):
            raise NotStreamable("not a JSON object or array")
        searched = start
        while True:
            for key_start, key_end in _spans(_EVENTS_KEY, buf, searched, len(buf)):
                try:  # the key is a member of the top-level object when the text before it completes to one
                    head = _header.decode(bytes(buf[start:key_start]) + b'"traceEvents":null}')
                except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                    continue
                self.meta.update({f: getattr(head, f) for f in META_FIELDS if getattr(head, f) is not None})
                del buf[:key_end]
                return True
            if self._eof or len(buf) > SEARCH_LIMIT:
                raise NotStreamable("no traceEvents key found")
            searched = max(start, len(buf) - 64)
            self._fill(2 * len(buf))

    def __iter__(self) -> Iterator[Union[bytearray, bytes, Tuple[int, int]]]:
        """The pieces in order: their text as a JSON array (``[`` + events + ``]``), or for an uncompressed
        file the (offset, length) ranges of their events in it (read them with :class:`PieceText`)."""
        is_object = self._events_start()
        if self.file_ranges:
            rest = yield from self._planned()
        else:
            rest = yield from self._sequential()
        # The rest of the text: the last events, the closing bracket and (Object Format) the trailing keys.
        try:
            if is_object:
                doc = _tail.decode(b'{"traceEvents":[' + rest)
                raws = doc.traceEvents
                self.meta.update({f: getattr(doc, f) for f in META_FIELDS if getattr(doc, f) is not None})
            else:
                raws = _list_of_raw.decode(b"[" + rest)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
            raise NotStreamable(str(exc)) from None
        del rest
        if isinstance(raws, list) and raws:
            yield b"[" + b",".join(raws) + b"]"

    def _sequential(self) -> Generator[bytearray, None, bytes]:
        """Pieces cut from the text as it is read; returns the text after the last cut."""
        buf = self._buf
        want = self.piece_bytes
        while True:
            self._fill(want + 1)  # one byte past the window: the text goes on after it
            if len(buf) <= want:
                break
            end = min(len(buf), want)
            cuts = _spans(_CUT, buf, max(0, end - _WINDOW), end) or _spans(_CUT, buf, 0, end)
            if not cuts:  # no cut in the window: a longer window
                if want >= SEARCH_LIMIT:
                    raise NotStreamable("no event boundary found")
                want *= 2
                continue
            cut_start, cut_end = cuts[-1]
            piece = _bracketed(buf, cut_start + 1)
            del buf[:cut_end - 1]
            want = self.piece_bytes
            yield piece
        rest = bytes(buf)
        buf.clear()
        return rest

    def _planned(self) -> Generator[Tuple[int, int], None, bytes]:
        """(offset, length) of each piece of an uncompressed file, found by reading only the last
        :data:`_WINDOW` bytes before each cut; returns the text after the last cut."""
        fd, size = self.reader.fileno(), self.reader.size
        start = self.reader.tell() - len(self._buf)  # the file offset of the first event
        self._buf.clear()
        want = self.piece_bytes
        while start + want + self.piece_bytes // 2 < size:
            end = start + want
            cut = None
            for lo in (max(start, end - _WINDOW), start):
                window = os.pread(fd, end - lo, lo)
                spans = [m.span() for m in _CUT.finditer(window)]
                if spans:
                    cut = (lo + spans[-1][0], lo + spans[-1][1])
                    break
            if cut is None:  # no cut in the window: a longer window
                if want >= SEARCH_LIMIT:
                    raise NotStreamable("no event boundary found")
                want *= 2
                continue
            yield (start, cut[0] + 1 - start)
            start, want = cut[1] - 1, self.piece_bytes
        return os.pread(fd, size - start, start)
