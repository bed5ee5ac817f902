"""Parsing transcripts (.txt, .docx, .vtt, .srt) into a plain text and its speaker turns.

A turn is a span of the document text spoken by one speaker under one theme; ``segment.py``
cuts turns into analysis units. All offsets are character offsets into ``Transcript.text``.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from koodari.errors import KoodariError
from koodari.textio import decode, read_bytes

DEFAULT_MAX_BYTES = 20_000_000  # a transcript's text (a .docx: its word/document.xml), KOODARI_MAX_TRANSCRIPT_BYTES
DEFAULT_MAX_UNITS = 20_000  # analysis units per document, KOODARI_MAX_UNITS
FORMATS = {".txt": "txt", ".text": "txt", ".md": "txt", ".docx": "docx", ".vtt": "vtt", ".srt": "srt"}
INTERVIEWERS = {
    "h",
    "i",
    "int",
    "haast",
    "haastattelija",
    "haastattelijat",
    "interviewer",
    "k",
    "kysyjä",
    "q",
    "tutkija",
}

THEME_RE = re.compile(
    r"^\s*(?:#+\s*)?(?P<marker>T\s?\d+|Teema\s+\d+|Kysymys\s+\d+|Tutkimuskysymys\s+\d+|K\d+)\b"
    r"\s*[.:)\-–]?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
HEADING_RE = re.compile(r"^\s*#+\s+(?P<rest>\S.*)$")
SPEAKER_RE = re.compile(
    r"^(?P<indent>\s*)(?P<speaker>[A-ZÄÖÅ]{1,4}\d{0,3}|[A-ZÄÖÅ][a-zäöå]{1,19}(?:[ ]?\d{1,3})?)\s*:(?:[ \t]+|$)"
)
TIMING_RE = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
VOICE_RE = re.compile(r"^<v(?:\.[^ >]*)?\s+(?P<speaker>[^>]+)>")
TAG_RE = re.compile(r"</?[a-zA-Z][^>]*>")


@dataclass
class Turn:
    start: int
    end: int
    speaker: str | None = None
    theme: str | None = None
    time_start: float | None = None
    time_end: float | None = None

    @property
    def is_interviewer(self) -> bool:
        return (self.speaker or "").strip().lower().rstrip("0123456789 ") in INTERVIEWERS


@dataclass
class Transcript:
    text: str
    format: str
    encoding: str
    turns: list[Turn] = field(default_factory=list)


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise KoodariError(f"unknown transcript format '{path.suffix or '(none)'}' (known: {known})", path)
    return fmt


def limit(name: str, default: int) -> int:
    """A size limit: the environment variable ``name`` when set (a whole number), else ``default``."""
    value = os.environ.get(name, "").strip().replace("_", "")
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise KoodariError(f"{name} must be a positive whole number, not {os.environ[name]!r}")
    return int(value)


def max_bytes() -> int:
    return limit("KOODARI_MAX_TRANSCRIPT_BYTES", DEFAULT_MAX_BYTES)


def max_units() -> int:
    return limit("KOODARI_MAX_UNITS", DEFAULT_MAX_UNITS)


def _too_big(what: str, size: int, most: int, path: Path) -> KoodariError:
    return KoodariError(f"{what} is {size:,} bytes, over the limit of {most} bytes for a transcript"
                        " (set KOODARI_MAX_TRANSCRIPT_BYTES to raise it)", path)


def read_transcript(path: str | Path) -> tuple[Transcript, bytes]:
    """Read and parse a transcript file; returns the transcript and the raw bytes (for sha256).

    The size limit is checked before anything is read or parsed (a .docx: its uncompressed text part).
    """
    path = Path(path)
    fmt = detect_format(path)
    most = max_bytes()
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0  # read_bytes names the problem
    if size > most:
        raise _too_big("the file", size, most, path)
    raw = read_bytes(path)
    if fmt == "docx":
        _check_docx_size(raw, path, most)
        return parse_plain(_docx_text(raw, path), "docx", "docx"), raw
    text, encoding = decode(raw, path)
    if fmt in ("vtt", "srt"):
        transcript = parse_subtitles(text, fmt, encoding)
        if not transcript.turns:
            raise KoodariError(f"no cues with timestamps found in this .{fmt} file", path)
        return transcript, raw
    return parse_plain(text, fmt, encoding), raw


def _check_docx_size(raw: bytes, path: Path, most: int) -> None:
    """Refuse a .docx whose word/document.xml expands beyond the limit, without parsing it.

    The size in the zip header is checked first, then the real size by decompressing at most ``most + 1``
    bytes (a header can lie).
    """
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            try:
                info = archive.getinfo("word/document.xml")
            except KeyError:
                return  # python-docx names the problem
            if info.file_size > most:
                raise _too_big("word/document.xml", info.file_size, most, path)
            with archive.open(info) as fh:
                real = len(fh.read(most + 1))
    except KoodariError:
        raise
    except Exception as exc:  # a damaged zip: BadZipFile, zlib.error, EOFError, ...
        raise KoodariError(f"not a valid .docx file ({type(exc).__name__})", path) from exc
    if real > most:
        raise _too_big("word/document.xml", real, most, path)


def _docx_text(raw: bytes, path: Path) -> str:
    import io

    import docx  # python-docx

    try:
        document = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise KoodariError("not a valid .docx file", path) from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise KoodariError(f"not a valid .docx file ({type(exc).__name__})", path) from exc
    text = "\n".join(p.text for p in document.paragraphs)
    if not text.strip():
        raise KoodariError("document has no text", path)
    return text


def parse_plain(text: str, fmt: str = "txt", encoding: str = "utf-8") -> Transcript:
    """Speaker turns (`H:`, `P7:`, `Haastattelija:` …) and themes (`T1`, `Teema 1`, headings)."""
    transcript = Transcript(text=text, format=fmt, encoding=encoding)
    lines = _lines_with_offsets(text)
    theme: str | None = None
    speaker: str | None = None
    current: Turn | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.end > current.start:
            transcript.turns.append(current)
        current = None

    for index, (offset, line) in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            close()  # a blank line ends a turn; `%` lines are transcriber's comments, never coded
            continue
        marker = THEME_RE.match(line)
        heading = HEADING_RE.match(line)
        if heading or (marker and (not SPEAKER_RE.match(line) or not marker.group("marker").upper().startswith("K"))):
            close()
            theme = " ".join(stripped.lstrip("#").split())
            speaker = None
            continue
        spoken = SPEAKER_RE.match(line)
        if spoken:
            close()
            speaker = spoken.group("speaker")
            body_start = offset + spoken.end()
            body = line[spoken.end() :]
            if body.strip():
                lead = len(body) - len(body.lstrip())
                current = Turn(body_start + lead, offset + len(line.rstrip()), speaker, theme)
            else:
                current = Turn(body_start, body_start, speaker, theme)
            continue
        if current is None and _is_heading(lines, index):
            theme = " ".join(stripped.split())
            speaker = None
            continue
        lead = len(line) - len(line.lstrip())
        if current is None:
            current = Turn(offset + lead, offset + len(line.rstrip()), speaker, theme)
        else:
            if current.end == current.start:
                current.start = offset + lead
            current.end = offset + len(line.rstrip())
    close()
    return transcript


def _is_heading(lines: list[tuple[int, str]], index: int) -> bool:
    """A short stand-alone line (blank before, blank or a speaker turn after) that reads as a title."""
    line = lines[index][1].strip()
    words = line.split()
    if len(line) > 100 or len(words) < 2 or not line[0].isupper():
        return False
    if line[-1] in '.!…,;"”':
        return False
    before_blank = index == 0 or not lines[index - 1][1].strip()
    after = lines[index + 1][1] if index + 1 < len(lines) else ""
    after_ok = not after.strip() or bool(SPEAKER_RE.match(after))
    has_more = any(text.strip() for _, text in lines[index + 1 :])
    return before_blank and after_ok and has_more


def _lines_with_offsets(text: str) -> list[tuple[int, str]]:
    out, offset = [], 0
    for line in text.split("\n"):
        out.append((offset, line))
        offset += len(line) + 1
    return out


def parse_seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return round(seconds, 3)


def parse_subtitles(source: str, fmt: str, encoding: str) -> Transcript:
    """WebVTT or SubRip cues → a plain text of `Speaker: text` lines, one turn per cue with its times."""
    pieces: list[str] = []
    turns: list[Turn] = []
    offset = 0
    theme: str | None = None
    blocks = re.split(r"\n\s*\n", source.strip("\n"))
    for block in blocks:
        block_lines = [ln for ln in block.split("\n") if ln.strip()]
        timing_index = next((i for i, ln in enumerate(block_lines) if TIMING_RE.match(ln)), None)
        if timing_index is None:
            note = block_lines[0].strip() if block_lines else ""
            marker = THEME_RE.match(note)
            if marker and not note.upper().startswith("WEBVTT"):
                theme = " ".join(note.split())
            continue
        timing = TIMING_RE.match(block_lines[timing_index])
        assert timing is not None
        cue = " ".join(ln.strip() for ln in block_lines[timing_index + 1 :])
        speaker = None
        voice = VOICE_RE.match(cue)
        if voice:
            speaker = voice.group("speaker").strip()
        cue = " ".join(TAG_RE.sub("", cue).split())
        spoken = SPEAKER_RE.match(cue)
        if spoken and speaker is None:
            speaker = spoken.group("speaker")
            cue = cue[spoken.end() :].strip()
        if not cue:
            continue
        prefix = f"{speaker}: " if speaker else ""
        start = offset + len(prefix)
        piece = prefix + cue + "\n"
        pieces.append(piece)
        turns.append(
            Turn(
                start,
                start + len(cue),
                speaker,
                theme,
                parse_seconds(timing.group("start")),
                parse_seconds(timing.group("end")),
            )
        )
        offset += len(piece)
    return Transcript(text="".join(pieces), format=fmt, encoding=encoding, turns=turns)
