"""Hostile and broken input that once ended in a traceback or a silent mistake: one line, the study unchanged."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from tests.conftest import fingerprint

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
                                        'startPosition="0"', 'startPosition="0" endPosition="1e3"'])
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
