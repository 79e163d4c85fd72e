"""Untrusted text (kernel and op names from a trace, file names) made safe to show: control characters and the
Unicode controls that reorder text, written out as escapes.

A trace is data from elsewhere: a kernel name can hold a terminal's escape sequences (``ESC [ 2 J`` clears the
screen), a NUL (a parse error in HTML), a newline (a table row or a one-line error broken in two) or a
bidirectional override (``U+202E`` shows the text after it reversed: the "Trojan Source" trick). Where such
text is shown to a person (terminal tables, notes, findings, errors, HTML pages) each of those characters is
written as its Python escape (``\\x1b``, ``\\x00``, ``\\n``, ``\\u202e``), visible and unambiguous. JSON and CSV
output keep the text as it is (JSON escapes control characters itself); HTML escaping is done apart
(Jinja's autoescape, :func:`bambaprof.render.figure.esc`).
"""

from __future__ import annotations

import re
from typing import Dict

#: C0 controls, DEL, C1 controls, and the bidirectional marks, embeddings, overrides and isolates.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
             *range(0x2066, 0x206A)]
_ESCAPES: Dict[int, str] = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_KEEPING_NEWLINES = {c: e for c, e in _ESCAPES.items() if c != ord("\n")}
_ANY = re.compile("[" + "".join(re.escape(chr(c)) for c in _CONTROLS) + "]")


def printable(text: str, newlines: bool = False) -> str:
    """``text`` with each control character written as its escape (see the module docstring); ``newlines``:
    line breaks kept (text of several lines)."""
    if _ANY.search(text) is None:  # the common case, at the speed of a regex scan
        return text
    return text.translate(_KEEPING_NEWLINES if newlines else _ESCAPES)
