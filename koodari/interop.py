"""REFI-QDA exchange (QDA-XML 1.0): the study's codebook and coded units for ATLAS.ti, NVivo, MAXQDA, QualCoder.

Export only (for now): ``.qdc`` is the codebook alone, ``.qdpx`` a zip of ``project.qde`` and a
lower-case ``sources/`` folder with each document's exact stored text. The known importer pitfalls are
respected: UTF-8 without a byte-order mark, fixed element order, deterministic GUIDs (the same study
exports the same GUIDs), and selection offsets counted in characters of the exact text in ``sources/``.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from koodari.errors import KoodariError
from koodari.store import Study

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
GUID_NAMESPACE = uuid.UUID("6f1c3c1e-7a52-4f0e-9a3b-6b0d5c9e2a10")  # koodari's own namespace for uuid5


@dataclass
class ExportSummary:
    codes: int
    sources: int = 0
    selections: int = 0
    left_out: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"codes": self.codes, "sources": self.sources, "selections": self.selections,
                "codings_without_unit": self.left_out}


class Guids:
    """Deterministic GUIDs: uuid5 of the study's creation time and the object's kind and id."""

    def __init__(self, study: Study) -> None:
        self.seed = study.get_meta("created_at", str(study.path.name))

    def __call__(self, kind: str, key: object) -> str:
        return str(uuid.uuid5(GUID_NAMESPACE, f"{self.seed}/{kind}/{key}"))


def _codes(study: Study, parent: ET.Element, ns: str, guid: Guids) -> int:
    """Nested codes: research question → combining → upper → sub; only what codings can use is codable."""
    codes_el = ET.SubElement(parent, f"{{{ns}}}Codes")
    used = {r[0] for r in study.conn.execute("SELECT DISTINCT category_id FROM reductions WHERE retracted_by IS NULL")}
    count = 0
    for q in study.questions():
        cats = study.categories(q["id"])
        if not cats:
            continue
        children: dict[int | None, list] = {}
        for c in cats:
            children.setdefault(c.parent_id, []).append(c)
        q_el = ET.SubElement(codes_el, f"{{{ns}}}Code", guid=guid("question", q["id"]),
                             name=q["code"] if q["code"] == q["text"] else f"{q['code']}: {q['text']}",
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
    coders = [r[0] for r in study.conn.execute(
        "SELECT DISTINCT coder FROM reductions WHERE retracted_by IS NULL ORDER BY coder")]
    if coders:
        users = ET.SubElement(root, f"{{{ns}}}Users")
        for coder in coders:
            ET.SubElement(users, f"{{{ns}}}User", guid=guid("user", coder), name=coder)
    book = ET.SubElement(root, f"{{{ns}}}CodeBook")
    summary = ExportSummary(codes=_codes(study, book, ns, guid))
    files: dict[str, str] = {}
    documents = study.documents()
    if documents:
        sources = ET.SubElement(root, f"{{{ns}}}Sources")
        for doc in documents:
            source_guid = guid("document", doc["id"])
            files[f"sources/{source_guid}.txt"] = doc["text"]
            src = ET.SubElement(sources, f"{{{ns}}}TextSource", guid=source_guid, name=doc["name"],
                                plainTextPath=f"internal://{source_guid}.txt")
            rows = study.conn.execute(
                """SELECT r.id, r.reduction, r.category_id, r.coder, r.created_at, s.char_start, s.char_end
                   FROM reductions r JOIN segments s ON s.id = r.segment_id
                   WHERE s.document_id = ? AND r.retracted_by IS NULL ORDER BY s.char_start, r.id""", (doc["id"],))
            for r in rows:
                sel = ET.SubElement(src, f"{{{ns}}}PlainTextSelection", guid=guid("selection", r["id"]),
                                    startPosition=str(r["char_start"]), endPosition=str(r["char_end"]),
                                    creatingUser=guid("user", r["coder"]))
                if r["reduction"]:
                    ET.SubElement(sel, f"{{{ns}}}Description").text = r["reduction"]
                coding = ET.SubElement(sel, f"{{{ns}}}Coding", guid=guid("coding", r["id"]),
                                       creatingUser=guid("user", r["coder"]))
                ET.SubElement(coding, f"{{{ns}}}CodeRef", targetGUID=guid("category", r["category_id"]))
                summary.selections += 1
            summary.sources += 1
    summary.left_out = study.conn.execute(
        "SELECT count(*) FROM reductions WHERE segment_id IS NULL AND retracted_by IS NULL").fetchone()[0]
    return _write(root, ns), files, summary


def export(study: Study, kind: str, out: Path, force: bool = False) -> ExportSummary:
    """Write a .qdc codebook or a .qdpx project; an existing file is only replaced with ``force``."""
    if kind not in ("qdc", "qdpx"):
        raise KoodariError(f"unknown export format '{kind}' (qdpx, qdc)")
    if out.exists() and not force:
        raise KoodariError("already exists (use --force to replace it)", out)
    if not out.parent.exists():
        raise KoodariError("folder does not exist", out.parent)
    tmp = out.with_name(out.name + ".part")
    if kind == "qdc":
        data, count = codebook_xml(study)
        tmp.write_bytes(data)
        summary = ExportSummary(codes=count)
    else:
        data, files, summary = project_xml(study)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("project.qde", data)
            for name, text in files.items():
                archive.writestr(name, text.encode("utf-8"))
    tmp.replace(out)  # never a half-written file under the real name
    return summary
