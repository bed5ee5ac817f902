"""Property-based checks of every importer: any input imports, or is refused with a KoodariError.

Shared by the test suite (tests/test_fuzz_importers.py, a few dozen examples per importer) and the
nightly-sized run (bench/fuzz.py, ten thousand per importer). The strategies build inputs that are
mostly well-formed (so the parsers get deep) and then, often, damage them at the byte level.

The property, for each example: the importer, called in-process on a real study file, either returns
or raises ``KoodariError``; never another exception. A refused input leaves the study's ``.dump``
(``tests.conftest.fingerprint``) unchanged. An accepted transcript keeps every unit's exact span.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import struct
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

from koodari.errors import KoodariError
from koodari.importer import import_transcripts
from koodari.interop import import_refi
from koodari.reductions import import_reductions
from koodari.store import Study
from tests.conftest import fingerprint

# -- text ------------------------------------------------------------------------------------------

WORDS = ["Se", "on", "hirveen", "tärkee", "asia", "Te-toimisto", "ei", "oo", "niinku", "Kela", "työ", "äiti",
         "ööh", "--", "...", "?", "!", ",", ";", '"', "'", "”", "«", "»", "=1+1", "@", "-", "+", "#", "%", ":",
         "-->", "00:01.000", "1", "\t", " ", "  ", "🙂", "e\u0301", "\U0001d400", "\\", "<v Pekka>", "</v>", "<b>",
         "&amp;", "&", "<", ">"]
ODD = ["\u2028", "\x85", "\x00", "\x0b", "\ufeff", "\r", "\x1b[31m", "\ud7ff", "\uffff"]
LINE_STARTS = ["", "H: ", "V: ", "P7: ", "E3: ", "Haastattelija: ", "Pekka: ", "T1", "T8 ", "Teema 2", "Kysymys 3: ",
               "# ", "## Otsikko", "% ", "K1: ", "WEBVTT", "NOTE ", "1", "   "]

# about one in ten, one in four (hypothesis leans towards the first choice and towards the bounds of st.integers)
rarely = st.sampled_from([False] * 9 + [True])
sometimes = st.sampled_from([False] * 3 + [True])
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=6)
words = st.one_of(*[st.sampled_from(WORDS)] * 6, printable)
phrases = st.lists(words, max_size=8).map(" ".join)
lines = st.builds(lambda a, b: a + b, st.sampled_from(LINE_STARTS), phrases)
SPOKEN = ["P6: Te-toimisto on tosi tärkee. Kela myös.", "H: Mitkä ovat tärkeimmät yhteistyökumppanit?",
          "E1: motivointi taito -- se on hirveen tärkee", "T8", "Teema 2: Kiire", "P3: ei oo aikaa, ku on niin kiire",
          "% nauraa", "", "Haastattelija: Kerro lisää.", "P7: No joo.", "E2: Se on niinku, tota, vaikee sanoa."]
spoken = st.one_of(*[st.sampled_from(SPOKEN)] * 4, lines)  # cheaper to draw than a fresh line every time
short_texts = st.one_of(*[st.sampled_from(["kiire", "työ", "asiakas", "Se on tärkeä."])] * 3, phrases)
ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]


@st.composite
def noisy(draw, text: str) -> str:
    """The text, or (one time in four) with control characters, odd separators or any code points inserted."""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 5]))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.one_of(st.sampled_from(ODD), st.text(min_size=1, max_size=4))) + text[at:]
    return text


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """The bytes as they are (most often), or truncated, spliced with random bytes, or with bytes flipped."""
    how = draw(st.sampled_from(["none"] * 9 + ["truncate", "insert", "flip"]))
    if how == "none" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if how == "truncate":
        return data[:at]
    if how == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    flips = draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8))
    out = bytearray(data)
    for i in flips:
        out[i] ^= draw(st.integers(1, 255))
    return bytes(out)


# -- transcripts -----------------------------------------------------------------------------------

def _timestamp(draw) -> str:
    h, m, s, ms = draw(st.integers(0, 2)), draw(st.integers(0, 99)), draw(st.integers(0, 99)), draw(st.integers(0, 999))
    return draw(st.sampled_from([f"{m:02d}:{s:02d}.{ms:03d}", f"{h:02d}:{m:02d}:{s:02d},{ms:03d}",
                                 f"{h}:{m:02d}:{s:02d}.{ms}", "x:00.000"]))


@st.composite
def subtitle_text(draw, fmt: str) -> str:
    blocks = ["WEBVTT"] if fmt == "vtt" and draw(st.booleans()) else []
    for i in range(draw(st.integers(0, 8))):
        cue = []
        if fmt == "srt" or draw(st.booleans()):
            cue.append(str(i + 1))
        if not draw(rarely):
            cue.append(f"{_timestamp(draw)} --> {_timestamp(draw)}")
        cue += draw(st.lists(lines, max_size=3))
        blocks.append("\n".join(cue))
    return "\n\n".join(blocks)


def docx_bytes(paragraphs: list[str]) -> bytes:
    """A minimal .docx (content types, relationships, word/document.xml) holding these paragraphs."""
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{escape(p)}</w:t></w:r></w:p>" for p in paragraphs)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml",
                         '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                         '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
                         '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
                         'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
                         'document.main+xml"/></Types>')
        archive.writestr("_rels/.rels",
                         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                         'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        archive.writestr("word/document.xml",
                         '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                         f"<w:body>{body}</w:body></w:document>")
    return buffer.getvalue()


XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@st.composite
def transcript_files(draw) -> tuple[str, bytes]:
    """(file name, bytes) of a .txt, .docx, .vtt or .srt transcript, or random bytes under such a name."""
    fmt = draw(st.sampled_from(["txt", "txt", "docx", "vtt", "srt", "random"]))
    if fmt == "random":
        return draw(st.sampled_from(["r.txt", "r.docx", "r.vtt", "r.srt"])), draw(st.binary(max_size=200))
    if fmt == "docx":
        paragraphs = [XML_CHAR.sub("", draw(noisy(p))) for p in draw(st.lists(lines, max_size=12))]
        return "t.docx", draw(damaged(docx_bytes(paragraphs)))
    if fmt == "txt":
        text = draw(noisy("\n".join(draw(st.lists(lines, max_size=16)))))
        newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        data = encode(text.replace("\n", newline), draw(st.sampled_from(ENCODINGS)))
        if draw(rarely):  # a second program appended lines in another encoding
            data += encode("\n" + "\n".join(draw(st.lists(lines, max_size=3))), draw(st.sampled_from(ENCODINGS)))
        return "t.txt", draw(damaged(data))
    data = encode(draw(noisy(draw(subtitle_text(fmt)))), draw(st.sampled_from(ENCODINGS)))
    return f"t.{fmt}", draw(damaged(data))


# -- reductions CSV --------------------------------------------------------------------------------

COLUMNS = ["reduction", "subcategory", "original", "upper", "combining", "question", "speaker", "unit", "coder"]
column_names = st.sampled_from(COLUMNS * 3 + ["Reduction ", " SUBCATEGORY", "x", ""])
SMALL = ["kiire", "työ", "T1", "T2", "Teema 3", "E1", "anna", "asiakkaan motivointi", "a", "b"]
cells = st.one_of(*[st.sampled_from(SMALL * 4 + ["", " "])] * 5, phrases)


@st.composite
def csv_files(draw) -> tuple[str, bytes]:
    """A reductions CSV: some of the known columns (and unknown ones) in any order and case, cells of any
    text, written by the csv module in any of its dialects or joined by hand, in any encoding."""
    if draw(rarely):
        return "r.csv", draw(st.binary(max_size=200))
    header = [draw(column_names) for _ in range(draw(st.integers(0, 7)))]
    if not draw(sometimes):
        header = draw(st.permutations(["reduction", "subcategory", *header]))
    rows = []
    for _ in range(draw(st.integers(int(not draw(rarely)), 6))):
        width = len(header) + (draw(st.sampled_from([-1, 1])) if draw(rarely) else 0)
        rows.append([draw(cells) for _ in range(max(0, width))])
    delimiter = draw(st.sampled_from([",", ";", "\t"])) if not draw(rarely) else "|"
    if draw(st.booleans()):
        buffer = io.StringIO()
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting)
        writer.writerow(header)
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        text = "\n".join(delimiter.join(row) for row in [header, *rows])
    head, _, body = text.partition("\n")
    text = head + "\n" + draw(noisy(body)) if not draw(rarely) else draw(noisy(text))
    return "r.csv", draw(damaged(encode(text, draw(st.sampled_from(ENCODINGS)))))


# -- REFI-QDA ----------------------------------------------------------------------------------------

GUIDS = [f"00000000-0000-0000-0000-{i:012d}" for i in range(1, 7)]
guids = st.one_of(st.sampled_from(GUIDS), st.sampled_from(GUIDS), st.text(max_size=8))
names = st.one_of(*[st.sampled_from(["kiire", "työ", "T1: Mitä", "T2", "a", "b", "Työ- ja elinkeinotoimisto"])] * 4,
                  phrases, st.sampled_from([" ", ""]))


def _attr(name: str, value: str | None) -> str:
    return "" if value is None else f" {name}={quoteattr(XML_CHAR.sub('', value))}"


def _text(value: str) -> str:
    return escape(XML_CHAR.sub("", value))


codes = st.recursive(
    st.tuples(st.none() | guids, names, st.sampled_from(["true", "false", "maybe", None]),
              st.none() | short_texts, st.just(())),
    lambda kids: st.tuples(st.none() | guids, names, st.sampled_from(["true", "false", None]),
                           st.none() | short_texts, st.lists(kids, max_size=3).map(tuple)),
    max_leaves=6,
)


def codes_xml(items) -> str:
    out = []
    for guid, name, codable, description, kids in items:
        inner = (f"<Description>{_text(description)}</Description>" if description is not None else "")
        inner += codes_xml(kids)
        out.append(f"<Code{_attr('guid', guid)}{_attr('name', name)}{_attr('isCodable', codable)}>{inner}</Code>")
    return "".join(out)


@st.composite
def positions(draw, length: int) -> tuple[str | None, str | None]:
    """startPosition and endPosition: mostly a valid span of the text, sometimes anything."""
    if length and not draw(sometimes):
        start = draw(st.integers(0, length - 1))
        return str(start), str(draw(st.integers(start + 1, length)))
    odd = st.one_of(st.integers(-2, length + 2).map(str),
                    st.sampled_from([None, "abc", "", " 1", "1.5", "٣", "9" * 30, "9" * 5000]))
    return draw(odd), draw(odd)


@st.composite
def project(draw) -> tuple[str, dict[str, str]]:
    """project.qde and the texts of sources/ it refers to."""
    files: dict[str, str] = {}
    parts = []
    users = draw(st.lists(st.tuples(guids, st.none() | names), max_size=3))
    if users:
        parts.append("<Users>" + "".join(f"<User{_attr('guid', g)}{_attr('name', n)}/>" for g, n in users)
                     + "</Users>")
    book = draw(st.lists(codes, max_size=3))
    if book or draw(st.booleans()):
        parts.append(f"<CodeBook><Codes>{codes_xml(book)}</Codes></CodeBook>")
    sources = []
    for i in range(draw(st.integers(0, 3))):
        text = XML_CHAR.sub("", "\n".join(draw(st.lists(spoken, min_size=0, max_size=5))))
        guid = draw(guids)
        how = draw(st.sampled_from(["inline"] * 4 + ["internal"] * 4 + ["missing", "none"]))
        attrs = _attr("guid", guid) + _attr("name", draw(st.none() | names))
        inner = ""
        if how == "inline":
            inner = f"<PlainTextContent>{_text(text)}</PlainTextContent>"
        elif how in ("internal", "missing"):
            member = draw(st.sampled_from([f"{guid}.txt"] * 4 + [f"s{i}.txt", "../x.txt"]))
            attrs += _attr("plainTextPath", f"internal://{member}")
            if how == "internal":
                files[f"sources/{member}"] = text
        for _ in range(draw(st.integers(0, 3))):
            codings = "".join(
                f"<Coding{_attr('guid', draw(guids))}{_attr('creatingUser', draw(st.none() | guids))}>"
                + ("" if draw(rarely) else f"<CodeRef{_attr('targetGUID', draw(st.none() | guids))}/>")
                + "</Coding>" for _ in range(draw(st.integers(0, 2))))
            description = draw(st.none() | short_texts)
            start, end = draw(positions(len(text)))
            inner += (f"<PlainTextSelection{_attr('guid', draw(guids))}"
                      f"{_attr('startPosition', start)}{_attr('endPosition', end)}"
                      f"{_attr('creatingUser', draw(st.none() | guids))}>"
                      + (f"<Description>{_text(description)}</Description>" if description is not None else "")
                      + codings + "</PlainTextSelection>")
        sources.append(f"<TextSource{attrs}>{inner}</TextSource>")
    if sources:
        parts.append("<Sources>" + "".join(sources) + "</Sources>")
    origin = draw(st.sampled_from(["koodari", "ATLAS.ti", None]))
    root = draw(st.sampled_from(["Project"] * 12 + ["CodeBook", "Other"]))
    namespace = draw(st.sampled_from(["urn:QDA-XML:project:1.0"] * 12 + ["urn:QDA-XML:codebook:1.0", ""]))
    dtd = draw(st.sampled_from([""] * 30 + ['<!DOCTYPE p [<!ENTITY e "x">]>', '<!DOCTYPE p SYSTEM "file:///etc/x">']))
    xml = (f'<?xml version="1.0" encoding="utf-8"?>\n{dtd}<{root}{_attr("xmlns", namespace)} name="p"'
           f'{_attr("origin", origin)}>{"".join(parts)}</{root}>')
    return xml, files


def _symlink(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


@st.composite
def qdpx_files(draw) -> tuple[str, bytes]:
    """A .qdpx zip: project.qde (or not), its sources, stray members with hostile names, links, damage."""
    if draw(rarely):
        return "p.qdpx", draw(st.binary(max_size=300))
    xml, files = draw(project())
    members: list[tuple[str, bytes, bool]] = []
    if not draw(rarely):
        members.append(("project.qde", xml_bytes(xml, draw(st.sampled_from(["utf-8", "utf-8", "utf-16"]))), False))
    for name, text in files.items():
        members.append((name, encode(text, draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp1252"]))),
                        draw(rarely) and draw(rarely)))
    for _ in range(draw(st.sampled_from([0] * 6 + [1, 2]))):
        name = draw(st.sampled_from(["sources/", "../evil.txt", "/abs.txt", "C:evil", "sources/../../x", "a\\..\\b",
                                     "sources/extra.txt", "Sources/X.TXT"]))
        members.append((name, draw(st.binary(max_size=40)), draw(rarely)))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the test
        for name, data, link in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            archive.writestr(_symlink(info) if link else info, data)
    data = buffer.getvalue()
    if members and draw(rarely):
        data = lie_about_size(data, draw(st.sampled_from([m[0] for m in members])).encode(),
                              draw(st.integers(0, 2**32 - 1)))
    return "p.qdpx", draw(damaged(data))


@st.composite
def qdc_files(draw) -> tuple[str, bytes]:
    """A .qdc codebook: nested codes (any depth up to a few, or one very deep chain), damage."""
    if draw(rarely):
        return "c.qdc", draw(st.binary(max_size=300))
    if draw(rarely) and draw(sometimes):
        depth = draw(st.integers(50, 3000))
        body = "".join(f'<Code guid="{i}" name="c{i}" isCodable="true">' for i in range(depth)) + "</Code>" * depth
    else:
        body = codes_xml(draw(st.lists(codes, max_size=4)))
    root = draw(st.sampled_from(["CodeBook"] * 12 + ["Project"]))
    namespace = draw(st.sampled_from(["urn:QDA-XML:codebook:1.0"] * 12 + ["urn:QDA-XML:project:1.0"]))
    codes_el = body if draw(rarely) else f"<Codes>{body}</Codes>"
    xml = (f'<{root} xmlns="{namespace}"'
           f'{_attr("origin", draw(st.sampled_from(["koodari", "QualCoder", None])))}>{codes_el}</{root}>')
    return "c.qdc", draw(damaged(xml_bytes(xml, draw(st.sampled_from(["utf-8", "utf-8", "utf-16"])))))


def xml_bytes(xml: str, encoding: str) -> bytes:
    """An XML document with a declaration that names its real encoding (the text may start with one)."""
    if xml.startswith("<?xml"):
        xml = xml.split("?>", 1)[1].lstrip("\n")
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{xml}'.encode(encoding)


def lie_about_size(data: bytes, member: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of ``member`` in its local and central zip headers."""
    out = bytearray(data)
    for signature, name_len_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = out.find(signature)
        while at != -1 and at + name_at <= len(out):
            length = struct.unpack("<H", out[at + name_len_at:at + name_len_at + 2])[0]
            if bytes(out[at + name_at:at + name_at + length]) == member:
                out[at + size_at:at + size_at + 4] = struct.pack("<I", size)
            at = out.find(signature, at + 4)
    return bytes(out)


# -- the harness -------------------------------------------------------------------------------------

def _import_transcript(study: Study, path: Path) -> None:
    import_transcripts(study, [path])


IMPORTERS: dict[str, tuple[Callable[[Study, Path], object], st.SearchStrategy[tuple[str, bytes]]]] = {
    "transcripts": (_import_transcript, transcript_files()),
    "reductions csv": (import_reductions, csv_files()),
    "qdpx": (import_refi, qdpx_files()),
    "qdc": (import_refi, qdc_files()),
}


@dataclass
class Outcome:
    accepted: bool
    reason: str | None = None  # the refusal, with names and numbers taken out


def reason(exc: KoodariError) -> str:
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)", "…", exc.message)
    text = re.sub(r"\d[\d,.]*", "N", text)
    return text[:90]


class Harness:
    """One study on disk, put back to its first state after every accepted import (so each example
    starts from the same study, and the 'unchanged' check compares with one known fingerprint)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.template = folder / "template.koodari"
        self.path = folder / "study.koodari"
        for p in (self.template, self.path):
            for extra in ("", "-wal", "-shm"):
                Path(f"{p}{extra}").unlink(missing_ok=True)
        Study.create(self.template).close()
        self.original = fingerprint(self.template)
        self._copy()
        self.study = Study.open(self.path)

    def _copy(self) -> None:
        source, target = sqlite3.connect(self.template), sqlite3.connect(self.path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()

    def reset(self) -> None:
        source = sqlite3.connect(self.template)
        try:
            source.backup(self.study.conn)
        finally:
            source.close()

    def close(self) -> None:
        self.study.close()

    def check(self, importer: str, name: str, data: bytes) -> Outcome:
        """Import one input; raises AssertionError when the property does not hold."""
        function = IMPORTERS[importer][0]
        path = self.folder / "input" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        try:
            function(self.study, path)
        except KoodariError as exc:
            assert len(str(exc).splitlines()) == 1, f"a multi-line error: {exc!r}"
            assert self.study._depth == 0, "a transaction was left open"
            after = fingerprint(self.path)
            assert after == self.original, f"refused ({exc}) but the study changed"
            return Outcome(False, reason(exc))
        if importer == "transcripts":
            for row in self.study.conn.execute(
                    "SELECT d.text, s.char_start, s.char_end, s.text FROM segments s JOIN documents d"
                    " ON d.id = s.document_id"):
                assert row[0][row[1]:row[2]] == row[3], "a unit's span is not its text"
        self.reset()
        return Outcome(True)
