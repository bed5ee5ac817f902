"""REFI-QDA exchange (QDA-XML 1.0): the study's codebook and coded units for ATLAS.ti, NVivo, MAXQDA, QualCoder.

Export only (for now): ``.qdc`` is the codebook alone, ``.qdpx`` a zip of ``project.qde`` and a
lower-case ``sources/`` folder with each document's exact stored text. The known importer pitfalls are
respected: UTF-8 without a byte-order mark, fixed element order, deterministic GUIDs (the same study
exports the same GUIDs), and selection offsets counted in characters of the exact text in ``sources/``.
"""

from __future__ import annotations

import hashlib
import uuid
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from koodari.errors import KoodariError
from koodari.store import PARENT_LEVEL, Study
from koodari.textio import atomic_output
from koodari.transcripts import SPEAKER_RE

PROJECT_NS = "urn:QDA-XML:project:1.0"
UNPLACED_SOURCE = "koodari - coded expressions without a transcript"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
GUID_NAMESPACE = uuid.UUID("6f1c3c1e-7a52-4f0e-9a3b-6b0d5c9e2a10")  # koodari's own namespace for uuid5


@dataclass
class ExportSummary:
    codes: int
    sources: int = 0
    selections: int = 0
    left_out: int = 0
    unplaced: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"codes": self.codes, "sources": self.sources, "selections": self.selections,
                "codings_in_own_source": self.unplaced, "codings_without_unit": self.left_out}


class Guids:
    """Deterministic GUIDs: uuid5 of the study's creation time and the object's kind and id."""

    def __init__(self, study: Study) -> None:
        self.seed = study.get_meta("created_at", str(study.path.name))

    def __call__(self, kind: str, key: object) -> str:
        return str(uuid.uuid5(GUID_NAMESPACE, f"{self.seed}/{kind}/{key}"))


def _codes(study: Study, parent: ET.Element, ns: str, guid: Guids) -> int:
    """Nested codes: research question → combining → upper → sub; only what codings can use is codable."""
    codes_el = ET.SubElement(parent, f"{{{ns}}}Codes")
    used = study.coded_categories()
    count = 0
    for q in study.questions():
        cats = study.categories(q.id)
        if not cats:
            continue
        children: dict[int | None, list] = {}
        for c in cats:
            children.setdefault(c.parent_id, []).append(c)
        q_el = ET.SubElement(codes_el, f"{{{ns}}}Code", guid=guid("question", q.id),
                             name=q.code if q.code == q.text else f"{q.code}: {q.text}",
                             isCodable="false")
        count += 1

        for top in children.get(None, []):
            count += _add_code(q_el, top, children, used, ns, guid)
    if count == 0:
        raise KoodariError("the study has no categories to export", study.path)
    return count


def _add_code(parent: ET.Element, category, children: dict, used: set[int], ns: str, guid: Guids) -> int:
    kids = children.get(category.id, [])
    codable = category.level == "sub" or not kids or category.id in used
    el = ET.SubElement(parent, f"{{{ns}}}Code", guid=guid("category", category.id), name=category.name,
                       isCodable="true" if codable else "false")
    if category.description:
        ET.SubElement(el, f"{{{ns}}}Description").text = category.description
    return 1 + sum(_add_code(el, kid, children, used, ns, guid) for kid in kids)


def _selection(source: ET.Element, ns: str, guid: Guids, coding_id: int, start: int, end: int, reduction: str | None,
               coder: str, category_id: int) -> None:
    """One coded span of a text source: its reduction as the description, the code as the coding's target."""
    sel = ET.SubElement(source, f"{{{ns}}}PlainTextSelection", guid=guid("selection", coding_id),
                        startPosition=str(start), endPosition=str(end), creatingUser=guid("user", coder))
    if reduction:
        ET.SubElement(sel, f"{{{ns}}}Description").text = reduction
    coding = ET.SubElement(sel, f"{{{ns}}}Coding", guid=guid("coding", coding_id), creatingUser=guid("user", coder))
    ET.SubElement(coding, f"{{{ns}}}CodeRef", targetGUID=guid("category", category_id))


def unplaced_source(study: Study) -> tuple[str, list[tuple[int, int, int]]]:
    """Codings without a unit in a document as a text of their own: each original expression (or, lacking
    one, the reduction) on a line, after its speaker (``E1: ``) when known; returns the text and
    (coding id, start, end) per coded line."""
    lines: list[str] = []
    spans: list[tuple[int, int, int]] = []
    offset = 0
    for r in study.unplaced_codings():
        quote = " ".join((r.original or r.reduction or "").split())
        if not quote:
            continue
        speaker = (r.speaker or "").strip()
        tag = SPEAKER_RE.match(f"{speaker}: ") if speaker else None
        prefix = f"{speaker}: " if tag and tag.group("speaker") == speaker else ""
        spans.append((r.id, offset + len(prefix), offset + len(prefix) + len(quote)))
        lines.append(prefix + quote)
        offset += len(prefix) + len(quote) + 1
    return "".join(line + "\n" for line in lines), spans


def _write(root: ET.Element, ns: str) -> bytes:
    ET.register_namespace("", ns)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    from io import BytesIO

    buffer = BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    return buffer.getvalue()  # "<?xml ...": no byte-order mark


def codebook_xml(study: Study) -> tuple[bytes, int]:
    root = ET.Element(f"{{{CODEBOOK_NS}}}CodeBook", origin="koodari")
    count = _codes(study, root, CODEBOOK_NS, Guids(study))
    return _write(root, CODEBOOK_NS), count


def project_xml(study: Study) -> tuple[bytes, dict[str, str], ExportSummary]:
    """project.qde and the texts of sources/ (file name → text)."""
    ns, guid = PROJECT_NS, Guids(study)
    root = ET.Element(f"{{{ns}}}Project", name=study.path.stem, origin="koodari")
    coders = study.active_coders()
    if coders:
        users = ET.SubElement(root, f"{{{ns}}}Users")
        for coder in coders:
            ET.SubElement(users, f"{{{ns}}}User", guid=guid("user", coder), name=coder)
    book = ET.SubElement(root, f"{{{ns}}}CodeBook")
    summary = ExportSummary(codes=_codes(study, book, ns, guid))
    files: dict[str, str] = {}
    documents = study.documents()
    unplaced_text, unplaced = unplaced_source(study)
    if documents or unplaced:
        sources = ET.SubElement(root, f"{{{ns}}}Sources")
        for doc in documents:
            source_guid = guid("document", doc.id)
            files[f"sources/{source_guid}.txt"] = doc.text
            src = ET.SubElement(sources, f"{{{ns}}}TextSource", guid=source_guid, name=doc.name,
                                plainTextPath=f"internal://{source_guid}.txt")
            for r in study.document_selections(doc.id):
                _selection(src, ns, guid, r.id, r.char_start, r.char_end, r.reduction, r.coder,
                           r.category_id)
                summary.selections += 1
            summary.sources += 1
        if unplaced:
            # codings from a reductions CSV or a corpus: their original expressions as a source of their own
            source_guid = guid("document", "unplaced")
            files[f"sources/{source_guid}.txt"] = unplaced_text
            src = ET.SubElement(sources, f"{{{ns}}}TextSource", guid=source_guid, name=UNPLACED_SOURCE,
                                plainTextPath=f"internal://{source_guid}.txt")
            codings = {r.id: r for r in study.unplaced_codings()}
            for coding_id, start, end in unplaced:
                r = codings[coding_id]
                _selection(src, ns, guid, coding_id, start, end, r.reduction, r.coder, r.category_id)
            summary.selections += len(unplaced)
            summary.unplaced = len(unplaced)
            summary.sources += 1
    summary.left_out = len(study.unplaced_codings()) - summary.unplaced
    return _write(root, ns), files, summary


def export(study: Study, kind: str, out: Path, force: bool = False) -> ExportSummary:
    """Write a .qdc codebook or a .qdpx project; an existing file is only replaced with ``force``."""
    if kind not in ("qdc", "qdpx"):
        raise KoodariError(f"unknown export format '{kind}' (qdpx, qdc)")
    with atomic_output(out, force) as tmp:
        if kind == "qdc":
            data, count = codebook_xml(study)
            tmp.write_bytes(data)
            return ExportSummary(codes=count)
        data, files, summary = project_xml(study)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", data)
            for name, text in files.items():
                archive.writestr(name, text.encode("utf-8"))
        return summary


# -- import --------------------------------------------------------------------------------------

MAX_ENTRIES = 10_000
MAX_MEMBER_BYTES = 200 * 1024 * 1024
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed: beyond this an entry is treated as a zip bomb
MAX_CODE_DEPTH = 64  # codes nested deeper than this are refused (koodari's own trees are 4 deep)
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError)


@dataclass
class ImportedProject:
    documents: int = 0
    segments: int = 0
    codings: int = 0
    categories: int = 0
    already_imported: bool = False

    def as_dict(self) -> dict[str, int]:
        return {"documents": self.documents, "segments": self.segments, "codings": self.codings,
                "categories": self.categories}


def _read_archive(path: Path) -> tuple[bytes, dict[str, bytes]]:
    """project.qde and sources/ from an untrusted .qdpx: no path traversal, no zip bombs."""
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_READ_ERRORS as exc:  # not a zip, or a damaged directory (e.g. names that are not their UTF-8)
        raise KoodariError(f"not a REFI-QDA project (not a zip archive, or a damaged one: {exc})", path) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise KoodariError(f"archive has {len(infos)} entries (limit {MAX_ENTRIES})", path)
        total = 0
        files: dict[str, bytes] = {}
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                raise KoodariError(f"unsafe path in archive: {name!r}", path)
            kind = (info.external_attr >> 16) & 0o170000  # the unix file type, when the archiver recorded one
            if kind == 0o120000:
                raise KoodariError(f"archive entry {name!r} is a symbolic link; refused", path)
            if kind not in (0, 0o100000, 0o040000):
                raise KoodariError(f"archive entry {name!r} is not a regular file; refused", path)
            if info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_BYTES or (info.compress_size and
                                                     info.file_size / info.compress_size > MAX_RATIO):
                raise KoodariError(f"archive entry {name!r} expands too much (a zip bomb?)", path)
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise KoodariError("archive expands beyond the size limit", path)
            try:
                with archive.open(info) as fh:
                    data = fh.read(MAX_MEMBER_BYTES + 1)
            except ZIP_READ_ERRORS as exc:
                raise KoodariError(f"archive entry {name!r} is damaged or unreadable ({exc})", path) from exc
            if len(data) > MAX_MEMBER_BYTES:
                raise KoodariError(f"archive entry {name!r} expands too much (a zip bomb?)", path)
            files[name] = data
    if "project.qde" not in files:
        raise KoodariError("archive has no project.qde", path)
    return files.pop("project.qde"), files


def _parse(data: bytes, path: Path) -> ET.Element:
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    try:
        return DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise KoodariError(f"refused: the XML declares a DTD or entities ({type(exc).__name__})", path) from exc
    except ET.ParseError as exc:
        raise KoodariError(f"not well-formed XML ({exc})", path) from exc
    except (LookupError, ValueError) as exc:  # the declaration names an unknown or unsupported encoding
        raise KoodariError(f"XML in an encoding that cannot be read ({exc})", path) from exc


def _import_codes(study: Study, codes: ET.Element, ns: str, ours: bool, guid_map: dict[str, int],
                  user: str) -> None:
    """Codes into the tree. koodari's own files: question → combining → upper → sub. Other tools'
    trees are read from the leaves up (leaf = sub, its parent = upper, above = combining)."""

    def paths(top: ET.Element):
        """Every code with the trail of codes above it, parents first (a walk, not recursion)."""
        stack = [[top]]
        while stack:
            trail = stack.pop()
            yield trail
            stack.extend(trail + [kid] for kid in reversed(trail[-1].findall(f"{{{ns}}}Code")))

    for top in codes.findall(f"{{{ns}}}Code"):
        for trail in paths(top):
            names = [e.get("name", "").strip() for e in trail]
            element = trail[-1]
            description = element.findtext(f"{{{ns}}}Description")
            if ours:
                question_name, levels = names[0], ["combining", "upper", "sub"]
                code, _, text = question_name.partition(": ")
                question_id = study.add_question(code, text or code)
                chain = names[1:]
                if not chain:
                    continue
                level = levels[len(chain) - 1] if len(chain) <= 3 else "sub"
            else:
                question_id = study.question_for(None)
                chain = names
                has_kids = bool(element.findall(f"{{{ns}}}Code"))
                depth_from_leaf = 0 if not has_kids else min(2, _height(element, ns))
                level = ("sub", "upper", "combining")[depth_from_leaf]
            parent_id = None
            if len(trail) >= 2 and trail[-2].get("guid") in guid_map:
                parent = study.category(guid_map[trail[-2].get("guid")])
                if PARENT_LEVEL.get(level) == parent.level:
                    parent_id = parent.id
            guid_map[element.get("guid")] = study.ensure_category(
                question_id, level, chain[-1], parent_id, description=description, created_by=user)


def _height(element: ET.Element, ns: str) -> int:
    """How many levels of codes lie below this one (a walk, not recursion)."""
    height, level = 0, element.findall(f"{{{ns}}}Code")
    while level:
        height += 1
        level = [kid for el in level for kid in el.findall(f"{{{ns}}}Code")]
    return height


def _check_code_depth(codes: ET.Element, ns: str, path: Path) -> None:
    """Refuse codes nested deeper than ``MAX_CODE_DEPTH`` before anything walks the tree."""
    depth, level = 0, codes.findall(f"{{{ns}}}Code")
    while level:
        depth += 1
        if depth > MAX_CODE_DEPTH:
            raise KoodariError(f"codes are nested more than {MAX_CODE_DEPTH} deep; refused", path)
        level = [kid for el in level for kid in el.findall(f"{{{ns}}}Code")]


def _line_speaker(text: str, start: int) -> str | None:
    """The speaker tag (``E1: ``, ``Haastattelija: ``) that opens the line a selection starts on, if any."""
    line_start = text.rfind("\n", 0, start) + 1
    tag = SPEAKER_RE.match(text[line_start:start])
    return tag.group("speaker") if tag else None


def _position(selection: ET.Element, attribute: str, path: Path) -> int:
    value = (selection.get(attribute) or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:  # 18 digits: far beyond any text
        raise KoodariError(f"a selection's {attribute} is {value or 'missing'!r}, not a character position", path)
    return int(value)


def import_refi(study: Study, path: str | Path) -> ImportedProject:
    """Import a .qdpx project or .qdc codebook in one transaction: codes, sources, coded selections."""
    path = Path(path)
    if not path.is_file():
        raise KoodariError("no such file", path)
    try:
        file_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise KoodariError(f"cannot read file ({exc.strerror})", path) from exc
    if study.was_imported(file_sha, "refi-qda"):
        return ImportedProject(already_imported=True)  # the same file again: a no-op, as for transcripts
    suffix = path.suffix.lower()
    if suffix == ".qdc":
        qde, files = path.read_bytes(), {}
        ns = CODEBOOK_NS
    else:
        qde, files = _read_archive(path)
        ns = PROJECT_NS
    root = _parse(qde, path)
    expected = "CodeBook" if suffix == ".qdc" else "Project"
    if root.tag != f"{{{ns}}}{expected}":
        raise KoodariError(f"root element is {root.tag}, not {expected} of QDA-XML 1.0", path)
    ours = root.get("origin") == "koodari"
    result = ImportedProject()
    before = study.counts()["categories"]
    with study.transaction():
        users = {u.get("guid"): u.get("name") or u.get("guid") for u in root.iter(f"{{{ns}}}User")}
        guid_map: dict[str, int] = {}
        codes = root.find(f"{{{ns}}}Codes") if suffix == ".qdc" else root.find(f"{{{ns}}}CodeBook/{{{ns}}}Codes")
        if codes is not None:
            _check_code_depth(codes, ns, path)
            _import_codes(study, codes, ns, ours, guid_map, "refi-qda")
        for source in root.iter(f"{{{ns}}}TextSource"):
            text = source.findtext(f"{{{ns}}}PlainTextContent")
            internal = source.get("plainTextPath", "")
            if text is None and internal.startswith("internal://"):
                member = "sources/" + internal[len("internal://"):]
                if member not in files:
                    raise KoodariError(f"source file {member!r} is missing from the archive", path)
                try:
                    text = files[member].decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    raise KoodariError(f"source {member!r} is not UTF-8", path) from exc
            if text is None:
                raise KoodariError(f"text source {source.get('name')!r} has no text", path)
            sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
            existing = study.document_by_sha(sha)
            doc_id = existing.id if existing else study.add_document(
                source.get("name") or "source", sha, text, "qdpx", "utf-8")
            result.documents += existing is None
            spans = study.unit_spans(doc_id)
            for sel in source.findall(f"{{{ns}}}PlainTextSelection"):
                start, end = _position(sel, "startPosition", path), _position(sel, "endPosition", path)
                if not 0 <= start < end <= len(text):
                    raise KoodariError(f"selection {start}–{end} lies outside its source text", path)
                if (start, end) not in spans:
                    seq = study.next_seq(doc_id)
                    spans[(start, end)] = study.add_segment(doc_id, seq, char_start=start, char_end=end,
                                                            text=text[start:end], turn=seq,
                                                            speaker=_line_speaker(text, start))
                    result.segments += 1
                for coding in sel.findall(f"{{{ns}}}Coding"):
                    target = coding.find(f"{{{ns}}}CodeRef")
                    if target is None or target.get("targetGUID") not in guid_map:
                        raise KoodariError("a coding refers to a code that is not in the codebook", path)
                    coder = users.get(coding.get("creatingUser") or sel.get("creatingUser"), "refi-qda")
                    study.add_reduction(sel.findtext(f"{{{ns}}}Description"), guid_map[target.get("targetGUID")],
                                        coder, source=f"refi:{path.name}", segment_id=spans[(start, end)],
                                        original=text[start:end])
                    result.codings += 1
        result.categories = study.counts()["categories"] - before
        study.log_import(str(path), file_sha, "refi-qda", result.as_dict())
    return result
