"""What a source file holds, and its text as a UTF-8 byte stream.

Historian exports come as UTF-8 (with or without a byte-order mark), UTF-16
with a byte-order mark (Windows historians) or Latin-1/cp1252 (older Windows
tools). :func:`sniff` tells them apart from the first bytes, and refuses
anything that is not text (an ELF binary, a Parquet file, a ZIP archive,
random bytes) by name, in one line. :func:`utf8_stream` hands the text on as
UTF-8 bytes without a byte-order mark, decoding as it streams, so memory stays
bounded whatever the file size.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
>>> _ = p.write_bytes("timestamp,T°\\n".encode("utf-16"))
>>> sniff(p).encoding
'utf-16'
>>> with utf8_stream(p, sniff(p)) as s:
...     s.read()
b'timestamp,T\\xc2\\xb0\\n'
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ..errors import IngestError

#: bytes read to tell what a file holds
SNIFF_BYTES = 1 << 16

#: the first bytes of files that are not text, and what to call them
MAGIC = (
    (b"\x7fELF", "an ELF binary"),
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a ZIP archive (e.g. an Excel .xlsx workbook)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (e.g. an Excel .xls workbook)"),
    (b"%PDF", "a PDF document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x89HDF", "an HDF5/netCDF file"),
    (b"MZ", "a Windows executable"),
    (b"\x1f\x8b", "gzip data (name the file .csv.gz)"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"BZh", "bzip2 data"),
)

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


class NotTextError(IngestError):
    """A file given to a CSV format holds no text (binary, Parquet, archive…)."""


@dataclass(frozen=True)
class TextKind:
    """How a file's text is encoded.

    ``encoding`` is a Python codec name: ``utf-8`` (also plain ASCII),
    ``utf-8-sig`` (with a byte-order mark), ``utf-16`` / ``utf-32`` (with a
    byte-order mark), ``cp1252`` or ``latin-1``. ``ascii_only`` says the
    sniffed part held no byte above 127, so a later non-UTF-8 byte is taken
    as cp1252.
    """

    encoding: str
    ascii_only: bool = False

    @property
    def label(self) -> str:
        """Name shown in reports: ``utf-8``, ``utf-8 (BOM)``, ``utf-16``, ``cp1252``…"""
        return {"utf-8-sig": "utf-8 (BOM)"}.get(self.encoding, self.encoding)


def is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def head(path: Path, n: int = SNIFF_BYTES) -> bytes:
    """The first ``n`` bytes of a file (decompressed when its name ends in .gz)."""
    if not is_gzip_name(path):
        with open(path, "rb") as f:
            return f.read(n)
    try:
        with gzip.open(path, "rb") as f:
            return f.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        if _gzip_truncated(exc):
            # a short file cut off: what could be decompressed is its head
            return _gzip_prefix(path, n)
        raise NotTextError(f"{path}: not a text CSV (looks like corrupt gzip data: "
                           f"{exc}); {_readable()}") from None


def _gzip_truncated(exc: Exception) -> bool:
    return isinstance(exc, EOFError) or "end-of-stream" in str(exc)


def _gzip_prefix(path: Path, n: int) -> bytes:
    d = zlib.decompressobj(wbits=47)
    with open(path, "rb") as f:
        return d.decompress(f.read(), n)


def looks_like(data: bytes) -> str | None:
    """What binary file ``data`` (a file's first bytes) starts like, or None."""
    for magic, what in MAGIC:
        if data.startswith(magic):
            return what
    return None


def sniff(path: str | Path) -> TextKind:
    """Tell how a CSV file's text is encoded, or refuse it in one line.

    Raises
    ------
    NotTextError
        The file is binary: ``<file>: not a text CSV (looks like …); …``.
    """
    path = Path(path)
    data = head(path)
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return TextKind(enc)
    what = looks_like(data)
    if what is None and b"\x00" in data:
        what = "binary data: it holds NUL bytes (UTF-16 text needs a byte-order mark)"
    if what is None:
        control = sum(data.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
        if control > max(2, len(data) // 200):
            what = "binary data: it holds control bytes"
    if what is not None:
        raise NotTextError(f"{path}: not a text CSV (looks like {what}); {_readable()}")
    if data.isascii():
        return TextKind("utf-8", ascii_only=True)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) < SNIFF_BYTES)
        return TextKind("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return TextKind("cp1252")
    except UnicodeDecodeError:
        return TextKind("latin-1")


def _readable() -> str:
    from .formats import formats

    fm = formats()
    csv = sorted(n for n, f in fm.items() if f.container == "csv")
    pq = sorted(n for n, f in fm.items() if f.container == "parquet")
    return (f"CSV formats ({', '.join(csv)}) read UTF-8, UTF-16 (with a byte-order mark) or "
            f"Latin-1 text; Parquet formats: {', '.join(pq)}")


def raw_stream(path: Path) -> pa.NativeFile:
    """The file's bytes (decompressed when its name ends in .gz)."""
    return pa.input_stream(str(path), compression="gzip" if is_gzip_name(path) else None)


def utf8_stream(path: str | Path, kind: TextKind):
    """The file's text as a stream of UTF-8 bytes without a byte-order mark.

    UTF-8 passes through untouched (the byte-order mark skipped); other
    encodings are decoded piece by piece, so memory stays bounded.
    """
    path = Path(path)
    stream = raw_stream(path)
    if kind.encoding == "utf-8":
        return stream
    if kind.encoding == "utf-8-sig":
        stream.read(len(codecs.BOM_UTF8))
        return stream
    return _Recoder(stream, kind.encoding)


def recode(data: bytes | memoryview, encoding: str) -> bytes:
    """Bytes of ``encoding`` as UTF-8 (undecodable bytes become U+FFFD)."""
    return bytes(data).decode(encoding, errors="replace").encode("utf-8")


class _Recoder:
    """A read-only stream of UTF-8 bytes decoded from another encoding as it is read."""

    PIECE = 1 << 20

    def __init__(self, stream: pa.NativeFile, encoding: str):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self.pending = bytearray()
        self.done = False

    def __enter__(self) -> _Recoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.stream.close()

    def _fill(self, n: int) -> None:
        while len(self.pending) < n and not self.done:
            raw = self.stream.read(self.PIECE)
            if not raw:
                self.done = True
                self.pending += self.decoder.decode(b"", final=True).encode("utf-8")
            else:
                self.pending += self.decoder.decode(raw).encode("utf-8")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            self._fill(1 << 62)
            n = len(self.pending)
        self._fill(n)
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out

    def readinto(self, buf) -> int:
        mv = memoryview(buf)
        self._fill(len(mv))
        n = min(len(mv), len(self.pending))
        mv[:n] = self.pending[:n]
        del self.pending[:n]
        return n


__all__ = ["MAGIC", "NotTextError", "TextKind", "head", "looks_like", "recode", "sniff",
           "utf8_stream"]
