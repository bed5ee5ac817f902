"""Reading transcript bytes as text: UTF-8 (with or without BOM), UTF-16 with BOM, cp1252/latin-1."""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from koodari.errors import KoodariError

CONTROL_OK = {"\t", "\n", "\r", "\f", "\v"}


@dataclass(frozen=True)
class DecodedFile:
    path: Path
    raw: bytes
    text: str
    encoding: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


def read_bytes(path: Path) -> bytes:
    """Read a file, turning the usual failures into one-line errors."""
    if not path.exists():
        raise KoodariError("no such file", path)
    if path.is_dir():
        raise KoodariError("is a directory, not a file", path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KoodariError(f"cannot read file ({exc.strerror})", path) from exc
    if not raw.strip():
        raise KoodariError("file is empty", path)
    return raw


def decode(raw: bytes, path: Path) -> tuple[str, str]:
    """Decode transcript bytes; returns (text, encoding). Line endings become ``\\n``."""
    if raw.startswith(codecs.BOM_UTF8):
        text, encoding = _strict(raw[3:], "utf-8", path), "utf-8-sig"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = _strict(raw, "utf-16", path), "utf-16"
    else:
        if b"\x00" in raw[:8192]:
            raise KoodariError("binary file, not a text transcript", path)
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = _per_line(raw, path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in CONTROL_OK)
    if controls > max(2, len(text) // 100):
        raise KoodariError("binary file, not a text transcript", path)
    if not text.strip():
        raise KoodariError("file is empty", path)
    return text, encoding


def argument_text(value: str, name: str) -> str:
    """A text given on the command line, as the user typed it. Python keeps argument bytes that are not UTF-8 (a
    terminal set to latin-1 or cp1252) as lone surrogates, which no study, file or output can hold: such an
    argument is read as cp1252, as a transcript line would be, or refused in one line."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape").decode("cp1252")
    except UnicodeError as exc:
        raise KoodariError(f"{name} is neither UTF-8 nor cp1252/latin-1 text; set the terminal to UTF-8") from exc


def _per_line(raw: bytes, path: Path) -> tuple[str, str]:
    """Bytes that are not UTF-8 as a whole: each line as UTF-8 when it decodes, else as cp1252.

    A file edited in two programs can mix the two; decoding it whole as cp1252 would turn every UTF-8
    ä into "Ã¤". A line that is neither is refused with its number.
    """
    lines, kinds = [], set()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8"))
            if not line.isascii():
                kinds.add("utf-8")
        except UnicodeDecodeError:
            try:
                lines.append(line.decode("cp1252"))
                kinds.add("cp1252")
            except UnicodeDecodeError as exc:
                raise KoodariError(
                    f"cannot decode line {number}: not UTF-8 and not cp1252/latin-1 (byte {exc.start} of the line)",
                    path,
                ) from exc
    return "\n".join(lines), "+".join(sorted(kinds, reverse=True))


def _strict(raw: bytes, encoding: str, path: Path) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise KoodariError(f"cannot decode text as {encoding} (byte {exc.start})", path) from exc


def read_text_file(path: str | Path) -> DecodedFile:
    """Read and decode a text file with the checks every importer needs."""
    path = Path(path)
    raw = read_bytes(path)
    text, encoding = decode(raw, path)
    return DecodedFile(path=path, raw=raw, text=text, encoding=encoding)


@contextmanager
def atomic_output(path: Path, force: bool = False) -> Iterator[Path]:
    """A temporary path to write an export to; it becomes ``path`` only when the writing succeeded.

    An existing file is replaced only with ``force``, and never anything that is not a regular file (a
    device, a pipe, a folder): nothing is silently overwritten, and a failed
    export never leaves a half-written file under the real name.
    """
    if path.exists() and not path.is_file():
        raise KoodariError("is not a regular file (a folder, a device or a pipe); refusing to replace it", path)
    if path.exists() and not force:
        raise KoodariError("already exists (use --force to replace it)", path)
    if not path.parent.is_dir():
        raise KoodariError("folder does not exist", path.parent)
    tmp = path.with_name(path.name + ".part")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
