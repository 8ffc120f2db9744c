"""Parser for Kubernetes Downward API style annotation files.

The kubelet writes the ``metadata.annotations`` Downward API volume file as
one ``key="value"`` line per annotation, keys sorted, each line produced by
Go's ``fmt.Sprintf("%s=%q\\n", key, value)``.  ``%q`` quotes the value the way
``strconv.Quote`` does, so reading it back means implementing Go's
``strconv.Unquote`` for double-quoted strings:

* ``\\a \\b \\f \\n \\r \\t \\v \\\\ \\"`` simple escapes,
* ``\\xNN`` and ``\\NNN`` (octal) escapes, which denote *bytes* (so a sequence
  of them can spell a multi-byte UTF-8 character, and invalid UTF-8 is kept
  as escaped bytes by Go),
* ``\\uNNNN`` and ``\\UNNNNNNNN`` escapes, which denote Unicode code points.

The faultline agent writes its ``chaos.experiment/*`` keys in exactly this
format, so the same parser reads the agent's own file and the real Downward
API file (in which case unrelated annotations are simply more keys).

The parser works on bytes and decodes the unescaped value as UTF-8 at the
end (invalid sequences become U+FFFD), which is what makes ``\\xNN`` byte
escapes behave as in Go.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Union

__all__ = [
    "AnnotationParseError",
    "parse_annotations",
    "read_annotations",
    "unquote_go",
]

PathLike = Union[str, "os.PathLike[str]"]

# A complete Go double-quoted string literal: no raw newline, no unescaped
# quote or backslash, and only the escapes strconv.Unquote accepts inside
# double quotes (\' is only valid inside single quotes in Go).
_QUOTED = re.compile(
    rb'"((?:[^"\\\n]'
    rb"|\\(?:[abfnrtv\\\"]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{3})"
    rb')*)"'
)
_ESCAPE = re.compile(
    rb"\\(?:([abfnrtv\\\"])|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|([0-7]{3}))"
)
_SIMPLE_ESCAPES = {
    b"a": b"\x07",
    b"b": b"\x08",
    b"f": b"\x0c",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
    b"v": b"\x0b",
    b"\\": b"\\",
    b'"': b'"',
}


class AnnotationParseError(ValueError):
    """The annotation data is not in kubelet's ``key="value"`` format."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


def _replace_escape(match: "re.Match[bytes]") -> bytes:
    simple, hex2, u4, u8, octal = match.groups()
    if simple is not None:
        return _SIMPLE_ESCAPES[simple]
    if hex2 is not None:
        return bytes((int(hex2, 16),))
    if octal is not None:
        value = int(octal, 8)
        if value > 0xFF:
            raise AnnotationParseError(f"octal escape out of range: \\{octal.decode()}")
        return bytes((value,))
    code = int(u4 if u4 is not None else u8, 16)
    # Go rejects surrogate halves and values beyond the Unicode range.
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise AnnotationParseError(f"invalid Unicode escape: U+{code:X}")
    return chr(code).encode("utf-8")


def unquote_go(literal: Union[str, bytes]) -> str:
    """Return the value of a Go double-quoted string literal (``strconv.Unquote``).

    Raises :class:`AnnotationParseError` when ``literal`` is not a complete,
    valid double-quoted literal.  For example the literal
    ``"a\\tb \\u00e9 \\xc3\\xa9"`` unquotes to ``a<TAB>b é é``.
    """
    raw = literal.encode("utf-8", "surrogateescape") if isinstance(literal, str) else literal
    match = _QUOTED.fullmatch(raw)
    if match is None:
        raise AnnotationParseError(f"not a valid Go quoted string: {raw[:80]!r}")
    body = match.group(1)
    if b"\\" in body:
        body = _ESCAPE.sub(_replace_escape, body)
    return body.decode("utf-8", "replace")


def parse_annotations(data: Union[str, bytes]) -> Dict[str, str]:
    """Parse the content of an annotations file into a ``{key: value}`` dict.

    Blank lines are ignored, a trailing ``\\r`` is tolerated, and a later
    duplicate key wins.  Every other line must be ``key="value"`` with a
    non-empty key; anything else (including a line cut in the middle of its
    value, as a torn write would leave it) raises
    :class:`AnnotationParseError` with the 1-based line number.
    """
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    result: Dict[str, str] = {}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            continue
        key, sep, value = line.partition(b"=")
        if not sep:
            raise AnnotationParseError("missing '='", number)
        if not key or key != key.strip() or b'"' in key:
            raise AnnotationParseError(f"invalid key {key[:80]!r}", number)
        try:
            result[key.decode("utf-8", "replace")] = unquote_go(value)
        except AnnotationParseError as exc:
            raise AnnotationParseError(str(exc), number) from None
    return result


def read_annotations(path: PathLike, *, missing_ok: bool = True) -> Dict[str, str]:
    """Read and parse the annotations file at ``path``.

    A missing file returns ``{}`` (the contract says "missing means not
    active") unless ``missing_ok`` is false, in which case the
    ``FileNotFoundError`` propagates.  Other ``OSError``\\ s always propagate,
    and malformed content raises :class:`AnnotationParseError`.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        if missing_ok:
            return {}
        raise
    return parse_annotations(data)
