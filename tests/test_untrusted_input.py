"""Hostile and broken input that once ended in a traceback or a silent mistake: one line, the study unchanged."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from tests.conftest import ROOT, fingerprint

NS = "urn:QDA-XML:project:1.0"
G = "00000000-0000-0000-0000-{:012d}"


def project(sources: str = "", codes: str = "") -> str:
    book = f"<CodeBook><Codes>{codes}</Codes></CodeBook>" if codes else ""
    return f'<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="{NS}" name="x">{book}{sources}</Project>'


CODE = f'<Code guid="{G.format(1)}" name="kiire" isCodable="true"/>'


def selection(attributes: str) -> str:
    return (f'<Sources><TextSource guid="{G.format(2)}" name="a"><PlainTextContent>Hei vaan kaikille</PlainTextContent>'
            f'<PlainTextSelection guid="{G.format(3)}" {attributes}><Coding guid="{G.format(4)}">'
            f'<CodeRef targetGUID="{G.format(1)}"/></Coding></PlainTextSelection></TextSource></Sources>')


def write_qdpx(path, members: dict[str, str | bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def refused(cli, study, path, *words: str) -> str:
    before = fingerprint(study)
    result = cli("import", study, path)
    assert result.exit_code != 0, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1, line
    assert path.name in line and all(w in line for w in words), line
    assert "Traceback" not in line
    assert fingerprint(study) == before
    return line


@pytest.mark.parametrize("attributes", ['startPosition="abc" endPosition="3"', 'endPosition="3"',
                                        'startPosition="0"', 'startPosition="0" endPosition="1e3"',
                                        f'startPosition="0" endPosition="{"9" * 5000}"'])
def test_selection_positions_that_are_not_numbers(cli, study_path, tmp_path, attributes):
    path = tmp_path / "positions.qdpx"
    write_qdpx(path, {"project.qde": project(selection(attributes), CODE)})
    refused(cli, study_path, path, "position")


def test_codes_nested_3000_deep_are_refused_in_one_line(cli, study_path, tmp_path):
    depth = 3000
    codes = "".join(f'<Code guid="{G.format(10 + i)}" name="c{i}" isCodable="true">' for i in range(depth))
    codes += "</Code>" * depth
    path = tmp_path / "deep.qdc"
    path.write_text(f'<?xml version="1.0"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>{codes}</Codes>'
                    "</CodeBook>", encoding="utf-8")
    refused(cli, study_path, path, "nested", "deep")


def test_codes_nested_within_the_limit_still_import(cli, study_path, tmp_path):
    depth = 40
    codes = "".join(f'<Code guid="{G.format(10 + i)}" name="c{i}" isCodable="true">' for i in range(depth))
    codes += "</Code>" * depth
    path = tmp_path / "deep.qdc"
    path.write_text(f'<?xml version="1.0"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>{codes}</Codes>'
                    "</CodeBook>", encoding="utf-8")
    result = cli("import", study_path, path, "--json")
    assert result.exit_code == 0, result.output


def lie_about_size(data: bytes, member: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of ``member`` in its local and central headers."""
    out = bytearray(data)
    for signature, name_len_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        at = out.find(signature)
        while at != -1:
            length = struct.unpack("<H", out[at + name_len_at:at + name_len_at + 2])[0]
            if bytes(out[at + name_at:at + name_at + length]) == member:
                out[at + size_at:at + size_at + 4] = struct.pack("<I", size)
            at = out.find(signature, at + 4)
    return bytes(out)


def corrupt_data(data: bytes, member: bytes) -> bytes:
    """Flip bytes inside ``member``'s compressed data (its CRC no longer matches)."""
    out = bytearray(data)
    at = out.find(b"PK\x03\x04" + b"")
    while at != -1:
        length, extra = struct.unpack("<HH", out[at + 26:at + 30])
        if bytes(out[at + 30:at + 30 + length]) == member:
            start = at + 30 + length + extra
            for i in range(start + 2, start + 12):
                out[i] ^= 0x5A
            return bytes(out)
        at = out.find(b"PK\x03\x04", at + 4)
    raise AssertionError("member not found")


@pytest.mark.parametrize("damage", ["smaller", "corrupt"])
def test_zip_entry_whose_header_lies(cli, study_path, tmp_path, damage):
    buffer = io.BytesIO()
    text = "Hei vaan kaikille, tämä on lähdeteksti. " * 50
    source = (f'<Sources><TextSource guid="{G.format(2)}" name="a" plainTextPath="internal://{G.format(2)}.txt"/>'
              "</Sources>")
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qde", project(source))
        archive.writestr(f"sources/{G.format(2)}.txt", text)
    member = f"sources/{G.format(2)}.txt".encode()
    data = lie_about_size(buffer.getvalue(), member, 10) if damage == "smaller" else corrupt_data(
        buffer.getvalue(), member)
    path = tmp_path / "liar.qdpx"
    path.write_bytes(data)
    refused(cli, study_path, path, "damaged")


def test_train_with_one_fold_is_an_error(cli, study_path):
    result = cli("train", study_path, "--folds", "1")
    assert result.exit_code != 0 and "--folds" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_evaluate_with_an_unknown_kind_is_an_error(cli, seed_study):
    result = cli("evaluate", seed_study, "--kind", "typo")
    assert result.exit_code != 0 and "unknown model kind 'typo'" in result.output
    assert len(result.output.strip().splitlines()) == 1


# -- item 7 of issue 11: the other findings --------------------------------------------------------

def test_importing_the_same_qdpx_twice_is_a_no_op(cli, study_path, tmp_path):
    path = tmp_path / "twice.qdpx"
    write_qdpx(path, {"project.qde": project(selection('startPosition="0" endPosition="3"'), CODE)})
    first = cli("import", study_path, path, "--json")
    assert first.exit_code == 0, first.output
    before = fingerprint(study_path)
    again = cli("import", study_path, path)
    assert again.exit_code == 0, again.output
    assert "already in the study" in again.output
    assert fingerprint(study_path) == before
    from koodari.store import Study

    with Study.open(study_path) as s:
        assert s.counts()["reductions"] == 1


def test_a_symlink_entry_in_a_qdpx_is_refused(cli, study_path, tmp_path):
    path = tmp_path / "link.qdpx"
    source = (f'<Sources><TextSource guid="{G.format(2)}" name="a" plainTextPath="internal://{G.format(2)}.txt"/>'
              "</Sources>")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", project(source))
        link = zipfile.ZipInfo(f"sources/{G.format(2)}.txt")
        link.create_system = 3  # unix
        link.external_attr = 0o120777 << 16  # a symbolic link; its data is the target
        archive.writestr(link, "/etc/passwd")
    refused(cli, study_path, path, "symbolic link")


def test_transcript_over_the_size_limit_is_refused_before_reading(cli, study_path, tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text("P1: " + "puhetta " * 2000 + "\n", encoding="utf-8")  # about 16 kB
    monkeypatch.setenv("KOODARI_MAX_TRANSCRIPT_BYTES", "10000")
    line = refused(cli, study_path, path, "10000", "KOODARI_MAX_TRANSCRIPT_BYTES")
    assert "limit" in line
    monkeypatch.setenv("KOODARI_MAX_TRANSCRIPT_BYTES", "20000")  # raised: the same file imports
    assert cli("import", study_path, path).exit_code == 0


def test_the_default_size_limit_is_documented_and_refuses_200_mb(cli, study_path, tmp_path, monkeypatch):
    from koodari.transcripts import DEFAULT_MAX_BYTES

    path = tmp_path / "huge.txt"
    with path.open("wb") as fh:  # sparse: 200 MB on paper, nothing on disk; it must never be read
        fh.truncate(200_000_000)
    monkeypatch.delenv("KOODARI_MAX_TRANSCRIPT_BYTES", raising=False)
    refused(cli, study_path, path, "limit")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "KOODARI_MAX_TRANSCRIPT_BYTES" in readme and f"{DEFAULT_MAX_BYTES // 1_000_000} MB" in readme
    assert "KOODARI_MAX_UNITS" in readme


def docx_bytes(paragraphs: int) -> bytes:
    import docx

    document = docx.Document()
    for i in range(paragraphs):
        document.add_paragraph(f"P{i % 9 + 1}: Tämä on kappale numero {i}.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_is_measured_by_its_uncompressed_text_part(cli, study_path, tmp_path, monkeypatch):
    data = docx_bytes(3000)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml_size = archive.getinfo("word/document.xml").file_size
    path = tmp_path / "bomb.docx"
    path.write_bytes(data)
    assert len(data) < xml_size  # the file itself is under the limit, its document.xml is not
    monkeypatch.setenv("KOODARI_MAX_TRANSCRIPT_BYTES", str((len(data) + xml_size) // 2))
    refused(cli, study_path, path, "word/document.xml", "limit")


def test_units_per_document_limit(cli, study_path, tmp_path, monkeypatch):
    path = tmp_path / "many.txt"
    path.write_text("".join(f"P{i % 9 + 1}: Lause {i}.\n\n" for i in range(300)), encoding="utf-8")
    monkeypatch.setenv("KOODARI_MAX_UNITS", "100")
    refused(cli, study_path, path, "units", "100", "KOODARI_MAX_UNITS")
    monkeypatch.setenv("KOODARI_MAX_UNITS", "not a number")
    result = cli("import", study_path, path)
    assert result.exit_code != 0 and "KOODARI_MAX_UNITS must be a positive whole number" in result.output
    assert len(result.output.strip().splitlines()) == 1
    monkeypatch.setenv("KOODARI_MAX_UNITS", "1000")
    assert cli("import", study_path, path).exit_code == 0


def test_a_line_mixing_utf8_and_latin1_is_decoded_per_line(cli, study_path, tmp_path):
    from koodari.store import Study

    path = tmp_path / "mixed.txt"
    path.write_bytes("P1: Tämä rivi on UTF-8:aa, äöå.\n\n".encode()
                     + "P2: Tämä rivi on latin-1:tä, äöå.\n".encode("latin-1"))
    result = cli("import", study_path, path)
    assert result.exit_code == 0, result.output
    with Study.open(study_path) as s:
        text = s.documents()[0]["text"]
    assert "Tämä rivi on UTF-8:aa, äöå." in text and "Tämä rivi on latin-1:tä, äöå." in text
    assert "Ã" not in text


def test_a_line_that_is_neither_utf8_nor_cp1252_is_refused_with_its_number(cli, study_path, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("P1: Tämä on hyvä.\n\n".encode() + "P2: äö\n".encode("latin-1") + b"P3: \x81\x8d\n")
    refused(cli, study_path, path, "line 4")


@pytest.mark.parametrize("kind", ["csv", "qdc"])
def test_export_force_never_replaces_something_that_is_not_a_regular_file(cli, seed_study, tmp_path, kind):
    import os
    import stat

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = cli("export", seed_study, kind, fifo, "--force")
    assert result.exit_code != 0 and "not a regular file" in result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    folder = tmp_path / "folder"
    folder.mkdir()
    result = cli("export", seed_study, kind, folder, "--force")
    assert result.exit_code != 0 and "not a regular file" in result.output and folder.is_dir()


def test_units_of_an_unknown_document_is_an_error(cli, study_path, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("P1: Hei.\n", encoding="utf-8")
    assert cli("import", study_path, path).exit_code == 0
    result = cli("units", study_path, "--document", "nope")
    assert result.exit_code != 0 and "no document 'nope'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert cli("units", study_path, "--document", "a.txt").exit_code == 0


@pytest.mark.parametrize("encoding", ["ut.-16", "no-such-codec", "utf-32"])
def test_xml_declaring_an_unknown_or_wrong_encoding(cli, study_path, tmp_path, encoding):
    path = tmp_path / "odd.qdc"  # found by bench/fuzz.py: a LookupError traceback
    path.write_bytes(f'<?xml version="1.0" encoding="{encoding}"?>\n<CodeBook xmlns="urn:QDA-XML:codebook:1.0">'
                     '<Codes/></CodeBook>'.encode())
    refused(cli, study_path, path, "XML")


def test_zip_entry_name_that_is_not_the_utf8_it_claims(cli, study_path, tmp_path):
    buffer = io.BytesIO()  # found by bench/fuzz.py: a UnicodeDecodeError traceback from zipfile
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("project.qde", project())
        archive.writestr("sources/ä.txt", "teksti")  # a non-ASCII name: zipfile sets the UTF-8 flag
    data = buffer.getvalue().replace("ä".encode(), b"\xe3(")  # the flag stays, the bytes are not UTF-8
    path = tmp_path / "names.qdpx"
    path.write_bytes(data)
    refused(cli, study_path, path, "zip")


@pytest.mark.slow
def test_arguments_typed_in_a_latin1_terminal(study_path):
    """Argument bytes that are not UTF-8 (a terminal in latin-1 or cp1252) are read as cp1252, as a transcript line
    is; bytes that are neither are refused in one line. Both once ended in a UnicodeEncodeError traceback."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    koodari = str(Path(sys.executable).with_name("koodari"))

    def run(*args: str | bytes) -> subprocess.CompletedProcess:
        return subprocess.run([koodari, *args], capture_output=True, timeout=300,
                              env={**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1"})

    lemmas = run("lemmatise", "--text", b"\xe4iti on kotona", "--json")
    assert lemmas.returncode == 0, lemmas.stderr.decode()
    assert json.loads(lemmas.stdout)["tokens"][0]["text"] == "äiti"
    before = fingerprint(study_path)
    question = run("tree", str(study_path), "--question", b"T\xe4")
    assert question.returncode != 0 and "Traceback" not in question.stderr.decode()
    assert "'Tä'" in question.stderr.decode("utf-8")
    neither = run("search", str(study_path), b"sairaus \x81\x8d")
    message = neither.stderr.decode("utf-8").strip()
    assert neither.returncode != 0 and len(message.splitlines()) == 1, message
    assert "query is neither UTF-8 nor cp1252/latin-1" in message
    assert fingerprint(study_path) == before
