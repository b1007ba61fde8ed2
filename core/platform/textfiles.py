"""Text files from outside (contact lists, suppression lists, territory files): which encoding they
are in, whether they are text at all, and lines too long to be a row.

Lists come from vendors, spreadsheets and people's desktops: UTF-8 with or without a byte-order
mark, UTF-16, Windows-1252, and now and then a UTF-8 file with one Windows-1252 byte pasted in.
The encoding is chosen from the whole sample with charset-normalizer, among the encodings such
files use. A UTF-8 file with a few stray bytes stays UTF-8 and only those bytes are read as
Windows-1252: one `é` typed in another program must not turn every `José` of the file into
`JosÃ©`. Binary data (an image, a zip, a renamed workbook) is refused with one sentence saying so.

`readable_copy(path)` gives DuckDB a UTF-8 file without overlong lines: the file itself when it
already is one (one read of the file, no copy), else a converted copy that is deleted afterwards.
"""

from __future__ import annotations

import codecs
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from charset_normalizer import from_bytes

SAMPLE_BYTES = 1 << 20  # the sample the encoding is chosen from
CHUNK_BYTES = 1 << 22
MAX_LINE_BYTES = 1_000_000  # longest line a row may have (DuckDB's own limit is 2 MB)
# What lead lists are actually written in (charset-normalizer's names).
CANDIDATES = ["utf_8", "cp1252", "latin_1", "utf_16", "utf_16_le", "utf_16_be", "mac_roman"]
LABELS = {
    "ascii": "utf-8",
    "utf_8": "utf-8",
    "cp1252": "windows-1252",
    "latin_1": "latin-1",
    "utf_16": "utf-16",
    "utf_16_le": "utf-16",
    "utf_16_be": "utf-16",
    "mac_roman": "mac-roman",
}
_STRAY = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UnreadableFile(ValueError):
    """The file is not a text file we can read; the message says why in one sentence."""


@dataclass
class Encoding:
    codec: str  # Python codec to read the original with
    label: str  # what the import report calls it
    repair: bool = False  # UTF-8 whose stray bytes are read as Windows-1252


@dataclass
class TextFile:
    path: Path  # UTF-8, no line over MAX_LINE_BYTES
    encoding: str  # what the original was read as
    long_lines: list[tuple[int, int]] = field(default_factory=list)  # (line, bytes) left out
    copied: bool = False


def size_text(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _kind_of_binary(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return (
            "it is a zip archive (an Excel .xlsx workbook under another name?); import the"
            " .xlsx as it is, or save it as CSV"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "it is an old Excel .xls workbook; save it as .xlsx or CSV and import that"
    return "it holds binary data; save it as CSV (comma or semicolon separated) and import that"


def _refuse_binary(name: str, head: bytes) -> None:
    raise UnreadableFile(f"{name} is not a text file: {_kind_of_binary(head)}.")


def _bom(head: bytes) -> Encoding | None:
    if head.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "utf-8")
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return Encoding("utf-32", "utf-32")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", "utf-16")
    return None


def _guess(sample: bytes) -> str | None:
    best = from_bytes(sample, cp_isolation=CANDIDATES).best()
    return best.encoding if best is not None else None


def choose_encoding(name: str, sample: bytes, stray: int, multibyte: int) -> Encoding:
    """The encoding of a file whose sample is `sample`, given how many bytes of the whole file are
    not UTF-8 (`stray`) and how much valid multi-byte UTF-8 it holds (`multibyte`)."""
    bom = _bom(sample)
    if bom is not None:
        return bom
    if b"\x00" in sample[:65536]:  # UTF-16 without a byte-order mark, or binary
        codec = _guess(sample[:65536])
        if codec and codec.startswith("utf_16"):
            return Encoding(codec, "utf-16")
        _refuse_binary(name, sample)
    if len(_CONTROL.findall(sample[:65536])) > max(8, len(sample[:65536]) // 100):
        raise UnreadableFile(
            f"{name} is not a text file: it is full of control characters; save it as CSV"
            " (comma or semicolon separated) and import that."
        )
    if not stray:
        return Encoding("utf-8", "utf-8")
    if multibyte and stray <= multibyte:
        plural = "s" if stray != 1 else ""
        return Encoding("utf-8", f"utf-8 ({stray:,} stray byte{plural} read as windows-1252)", True)
    codec = _guess(sample)
    if codec is None and stray * 20 > len(sample):
        _refuse_binary(name, sample)
    if codec in (None, "ascii", "utf_8") or codec.startswith("utf_16"):
        codec = "cp1252"  # the sample looked like UTF-8 but the file is not: a one-byte code page
    return Encoding(codec, LABELS.get(codec, codec.replace("_", "-")))


def _repair(text: str) -> str:
    """Stray bytes (kept by surrogateescape) read as Windows-1252 instead."""
    return _STRAY.sub(
        lambda m: bytes([ord(m.group()) - 0xDC00]).decode("cp1252", errors="replace"), text
    )


def decode_bytes(data: bytes, name: str = "The file") -> tuple[str, str]:
    """A small file's bytes as text, and the encoding it was read as (for the report)."""
    sample = data[:SAMPLE_BYTES]
    try:
        text = data.decode("utf-8-sig")
        enc = choose_encoding(name, sample, 0, len(data) - len(text))
        if enc.codec in ("utf-8", "utf-8-sig"):
            return text.lstrip("\ufeff"), enc.label
    except UnicodeDecodeError:
        escaped = data.decode("utf-8", errors="surrogateescape")
        stray = len(_STRAY.findall(escaped))
        enc = choose_encoding(name, sample, stray, len(data) - len(escaped))
        if enc.repair:
            return _repair(escaped).lstrip("\ufeff"), enc.label
    return data.decode(enc.codec, errors="replace").lstrip("\ufeff"), enc.label


@dataclass
class _Scan:
    head: bytes
    stray: int
    multibyte: int
    long_line: bool


def _scan(path: Path) -> _Scan:
    """One read of the file: its head, how many bytes are not UTF-8, and whether a line may be
    too long. A line over MAX_LINE_BYTES holds a whole aligned window of half that size with no
    LF in it, so only windows are searched; a hit is settled exactly when the file is copied."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    window = MAX_LINE_BYTES // 2
    stray = multibyte = 0
    long_line = False
    head = b""
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            if not head:
                head = chunk[:SAMPLE_BYTES]
                if _bom(head) and not head.startswith(codecs.BOM_UTF8):
                    return _Scan(head, 0, 0, False)
                if b"\x00" in head[:65536]:
                    return _Scan(head, 0, 0, False)
            if not (chunk.isascii() and decoder.getstate()[0] == b""):
                text = decoder.decode(chunk)
                multibyte += len(chunk) - len(text)
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:  # surrogates: bytes that were not UTF-8
                    stray += len(_STRAY.findall(text))
            if not long_line:
                long_line = (
                    any(chunk.find(b"\n", k, k + window) < 0 for k in range(0, len(chunk), window))
                    and len(chunk) >= window
                )
    return _Scan(head, stray, multibyte, long_line)


def _utf8_chunks(path: Path, enc: Encoding) -> Iterator[str]:
    """The file decoded in chunks, line ends made LF (a CR at a chunk's end waits for the next)."""
    errors = "surrogateescape" if enc.repair else "replace"
    decoder = codecs.getincrementaldecoder(enc.codec)(errors)
    held = ""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(CHUNK_BYTES)
            text = held + decoder.decode(chunk, final=not chunk)
            held = ""
            if chunk and text.endswith("\r"):
                text, held = text[:-1], "\r"
            if enc.repair:
                text = _repair(text)
            yield text.replace("\r\n", "\n").replace("\r", "\n")
            if not chunk:
                return


def _write_without_long_lines(chunks: Iterator[str], out: Path) -> list[tuple[int, int]]:
    """Write the text as UTF-8, leaving out lines over MAX_LINE_BYTES; returns them."""
    long_lines: list[tuple[int, int]] = []
    line, carry, skipping = 1, b"", 0  # skipping: bytes seen so far of an overlong line
    with out.open("wb") as fh:
        for text in chunks:
            parts = text.encode("utf-8").split(b"\n")
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if skipping:
                    skipping += len(part)
                else:
                    carry += part
                    if len(carry) > MAX_LINE_BYTES:
                        skipping, carry = len(carry), b""
                if last:
                    continue
                if skipping:
                    long_lines.append((line, skipping))
                    skipping = 0
                else:
                    fh.write(carry + b"\n")
                carry = b""
                line += 1
        if skipping:
            long_lines.append((line, skipping))
        elif carry:
            fh.write(carry + b"\n")
    return long_lines


@contextmanager
def readable_copy(path: str | Path, name: str | None = None) -> Iterator[TextFile]:
    """The file as UTF-8 without overlong lines: itself when it already is, else a copy in the
    temporary folder that is deleted when the block ends (whatever happens in it)."""
    path = Path(path)
    name = name or path.name
    scan = _scan(path)
    enc = choose_encoding(name, scan.head, scan.stray, scan.multibyte)
    if enc.codec in ("utf-8", "utf-8-sig") and not enc.repair and not scan.long_line:
        yield TextFile(path, enc.label)
        return
    out = Path(tempfile.gettempdir()) / f"leadops-text-{uuid.uuid4().hex}.csv"
    try:
        long_lines = _write_without_long_lines(_utf8_chunks(path, enc), out)
        yield TextFile(out, enc.label, long_lines, copied=True)
    finally:
        out.unlink(missing_ok=True)
