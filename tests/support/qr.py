"""Read the modules of a QR code drawn by segno's SVG writer, to check a QR code holds the text it should.

segno draws each row's dark runs as one path of relative moves (`M2 2.5h7m6 0h1m-33 1h1` …): `h n` paints n
modules, `m dx dy` moves, and the row is the integer part of y. Reading that back gives the module matrix, which
is compared with segno's own encoding of the expected text: equal modules are the same QR code.
"""

from __future__ import annotations

import re

import segno

_PATH = re.compile(r'<path\b[^>]*\bd="([^"]+)"')
_STEP = re.compile(r"([MmHh])\s*(-?\d+(?:\.\d+)?)(?:[\s,]+(-?\d+(?:\.\d+)?))?")


def svg_modules(svg: str) -> list[list[bool]]:
    """The dark modules of the QR code in `svg`, row by row, without the quiet zone."""
    paths = _PATH.findall(svg)
    assert len(paths) == 1, f"expected one path of dark modules in the SVG, found {len(paths)}"
    path = paths[0]
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    consumed = 0
    for step in _STEP.finditer(path):
        assert path[consumed : step.start()].strip() == "", f"unexpected path data {path[consumed : step.start()]!r}"
        consumed = step.end()
        command, first, second = step.group(1), float(step.group(2)), float(step.group(3) or 0)
        if command == "M":
            x, y = first, second
        elif command == "m":
            x, y = x + first, y + second
        else:
            end = first if command == "H" else x + first
            dark.update((column, int(y)) for column in range(int(x), int(end)))
            x = end
    assert path[consumed:].strip() == "", f"unexpected path data {path[consumed:]!r}"
    assert dark, "the SVG draws no dark module"
    # The top-left module of a QR code is always dark (its finder pattern), as is the bottom-left one.
    left, top = min(column for column, _ in dark), min(row for _, row in dark)
    size = max(row for _, row in dark) - top + 1
    return [[(left + column, top + row) in dark for column in range(size)] for row in range(size)]


def is_qr_of(svg: str, text: str) -> bool:
    """Whether the SVG draws exactly the QR code segno makes for `text` at some error correction level."""
    modules = svg_modules(svg)
    for error in "LMQH":
        expected = segno.make(text, error=error, boost_error=False, micro=False)
        if [[bool(module) for module in row] for row in expected.matrix] == modules:
            return True
    return False
