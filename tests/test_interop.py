"""REFI-QDA export validated against the published schemas (shipped in tests/data/refi-qda, MIT)."""

import json
import zipfile

import pytest

from koodari.interop import UNPLACED_SOURCE
from koodari.store import Study
from tests.conftest import ROOT, code_transcript

SCHEMAS = ROOT / "tests" / "data" / "refi-qda"
TRANSCRIPT = "T8\n\nH: Mitkä ovat tärkeimmät yhteistyökumppanit?\nP6: Te-toimisto on tosi tärkee. Kela myös.\n"


@pytest.fixture
def coded_study(tmp_path, cli, seed_study):
    code_transcript(cli, seed_study, tmp_path, TRANSCRIPT, "Te-toimisto on tärkeä", ["Te-toimisto on tosi tärkee."])
    return seed_study


def schema(name):
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMAS / name))


def test_qdpx_validates_and_keeps_exact_offsets(coded_study, cli, tmp_path):
    out = tmp_path / "study.qdpx"
    result = cli("export", coded_study, "qdpx", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["sources"] == 2 and summary["selections"] == 145 and summary["codings_without_unit"] == 0
    assert summary["codings_in_own_source"] == 144  # the seed corpus's quotes, as a source of their own
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        qde = archive.read("project.qde")
        assert not qde.startswith(b"\xef\xbb\xbf") and qde.startswith(b"<?xml")
        assert all(n == "project.qde" or n.startswith("sources/") for n in names)
        source = next(n for n in names if n.startswith("sources/"))
        text = archive.read(source).decode("utf-8")
    schema("Project.xsd").validate(qde.decode("utf-8"))
    import defusedxml.ElementTree as DET

    root = DET.fromstring(qde)
    ns = {"q": "urn:QDA-XML:project:1.0"}
    sel = root.find(".//q:PlainTextSelection", ns)
    start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
    assert text[start:end] == "Te-toimisto on tosi tärkee."
    assert sel.find("q:Description", ns).text == "Te-toimisto on tärkeä"
    code_guid = sel.find("q:Coding/q:CodeRef", ns).get("targetGUID")
    code = root.find(f".//q:Code[@guid='{code_guid}']", ns)
    assert code.get("name") == "Työ- ja elinkeinotoimisto" and code.get("isCodable") == "true"
    assert source == f"sources/{root.find('.//q:TextSource', ns).get('guid')}.txt"
    user = root.find(".//q:User", ns)
    assert user.get("name") in {"anna", "Similä & Valtanen 2012"}


def test_exports_are_deterministic_and_never_overwrite(coded_study, cli, tmp_path):
    first, second = tmp_path / "a.qdpx", tmp_path / "b.qdpx"
    assert cli("export", coded_study, "qdpx", first).exit_code == 0
    assert cli("export", coded_study, "qdpx", second).exit_code == 0
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        assert a.read("project.qde") == b.read("project.qde")  # the same GUIDs every time
    again = cli("export", coded_study, "qdpx", first)
    assert again.exit_code != 0 and "already exists" in again.output
    assert cli("export", coded_study, "qdpx", first, "--force").exit_code == 0


def test_qdc_codebook_validates(coded_study, cli, tmp_path):
    out = tmp_path / "book.qdc"
    result = cli("export", coded_study, "qdc", out)
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    schema("Codebook.xsd").validate(data.decode("utf-8"))
    import defusedxml.ElementTree as DET

    root = DET.fromstring(data)
    ns = {"c": "urn:QDA-XML:codebook:1.0"}
    questions = root.findall("c:Codes/c:Code", ns)
    assert len(questions) == 15 and all(q.get("isCodable") == "false" for q in questions)
    t4 = next(q for q in questions if q.get("name").startswith("T4:"))
    combining = t4.find("c:Code", ns)
    assert combining.get("isCodable") == "false"
    subs = [c.get("name") for c in t4.findall(".//c:Code", ns) if c.get("isCodable") == "true"]
    assert "asiakkaan motivointi" in subs


def test_export_bad_format(cli, coded_study, tmp_path):
    result = cli("export", coded_study, "nvivo", tmp_path / "x")
    assert result.exit_code != 0 and "unknown export format" in result.output


def tree_paths(path):
    with Study.open(path) as s:
        out = set()
        for q in s.questions():
            for c in s.categories(q["id"]):
                out.add((q["code"], c.level, tuple(s.path_of(c.id))))
        return out


def test_roundtrip_export_import(coded_study, cli, tmp_path):
    out = tmp_path / "rt.qdpx"
    assert cli("export", coded_study, "qdpx", out).exit_code == 0
    fresh = tmp_path / "fresh.koodari"
    assert cli("init", fresh).exit_code == 0
    result = cli("import", fresh, out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["codings"] == 145
    assert tree_paths(fresh) == tree_paths(coded_study)  # the same tree, question by question
    with Study.open(coded_study) as a, Study.open(fresh) as b:
        def codings(s):
            return {(d["text"], seg["char_start"], seg["char_end"], tuple(s.path_of(r["category_id"])), r["coder"],
                     r["reduction"])
                    for r in s.conn.execute("SELECT * FROM reductions WHERE segment_id IS NOT NULL")
                    for seg in [s.segment(r["segment_id"])]
                    for d in [s.conn.execute("SELECT text, name FROM documents WHERE id = ?",
                                             (seg["document_id"],)).fetchone()]
                    if d["name"] != UNPLACED_SOURCE}
        assert codings(a) == codings(b)
        seg = b.conn.execute("SELECT * FROM segments").fetchone()
        doc = b.documents()[0]["text"]
        assert doc[seg["char_start"]:seg["char_end"]] == seg["text"] == "Te-toimisto on tosi tärkee."


def test_import_codebook_from_another_tool(cli, study_path, tmp_path):
    qdc = tmp_path / "other.qdc"
    qdc.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
        '<Code guid="11111111-1111-1111-1111-111111111111" name="työssä jaksaminen" isCodable="false">'
        '<Code guid="22222222-2222-2222-2222-222222222222" name="työn kuormitus" isCodable="false">'
        '<Code guid="33333333-3333-3333-3333-333333333333" name="kiire" isCodable="true"/></Code></Code>'
        '</Codes></CodeBook>', encoding="utf-8")
    assert cli("import", study_path, qdc).exit_code == 0
    with Study.open(study_path) as s:
        q = s.find_question("default")
        sub = s.find_category(q, "sub", "kiire")
        assert s.path_of(sub.id) == ["kiire", "työn kuormitus", "työssä jaksaminen"]


def make_zip(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


PROJECT = ('<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="urn:QDA-XML:project:1.0" name="x">'
           '<Description>ok</Description></Project>')


@pytest.mark.parametrize(
    "members, message",
    [
        ({"project.qde": PROJECT, "../../evil.txt": "pwned"}, "unsafe path"),
        ({"project.qde": PROJECT, "/etc/evil.txt": "pwned"}, "unsafe path"),
        ({"project.qde": '<?xml version="1.0"?>\n<!DOCTYPE p [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                         '<Project xmlns="urn:QDA-XML:project:1.0" name="&e;"/>'}, "refused"),
        ({"project.qde": '<?xml version="1.0"?>\n<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                         '<Project xmlns="urn:QDA-XML:project:1.0" name="&b;"/>'}, "refused"),
        ({"project.qde": PROJECT, "sources/bomb.txt": "0" * 50_000_000}, "zip bomb"),
        ({"sources/a.txt": "x"}, "no project.qde"),
        ({"project.qde": "<Project"}, "not well-formed"),
    ],
)
def test_untrusted_archives_are_refused_and_change_nothing(cli, study_path, tmp_path, members, message):
    from tests.conftest import fingerprint

    bad = tmp_path / "bad.qdpx"
    make_zip(bad, members)
    before = fingerprint(study_path)
    result = cli("import", study_path, bad)
    assert result.exit_code != 0
    assert "bad.qdpx" in result.output and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert fingerprint(study_path) == before
    assert not (tmp_path.parent / "evil.txt").exists()


def test_not_a_zip(cli, study_path, tmp_path):
    bad = tmp_path / "bad.qdpx"
    bad.write_bytes(b"not a zip")
    result = cli("import", study_path, bad)
    assert result.exit_code != 0 and "not a zip archive" in result.output


def test_roundtrip_of_the_seed_study_keeps_every_count_of_the_tree(seed_study, cli, tmp_path):
    out = tmp_path / "seed.qdpx"
    result = cli("export", seed_study, "qdpx", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["codings_without_unit"] == 0 and summary["selections"] == 144
    with zipfile.ZipFile(out) as archive:
        qde = archive.read("project.qde").decode("utf-8")
    schema("Project.xsd").validate(qde)
    fresh = tmp_path / "fresh.koodari"
    assert cli("init", fresh).exit_code == 0
    imported = cli("import", fresh, out, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["codings"] == 144

    def tree(path):
        result = cli("tree", path, "--format", "csv")
        assert result.exit_code == 0, result.output
        return sorted(result.output.splitlines())

    before, after = tree(seed_study), tree(fresh)
    assert after == before
    assert sum(int(line.rsplit(",", 2)[1]) for line in before[1:] if line[-1].isdigit()) >= 144
    with Study.open(fresh) as s:  # the original expressions, each a unit of its own source, speakers kept
        doc = s.documents()[0]
        assert doc["name"] == UNPLACED_SOURCE
        seg = s.conn.execute("SELECT * FROM segments WHERE document_id = ? ORDER BY seq", (doc["id"],)).fetchone()
        assert doc["text"][seg["char_start"]:seg["char_end"]] == seg["text"]
        assert seg["text"].startswith("motivointi taito -- se on hirveen tärkee") and seg["speaker"] == "E1"
