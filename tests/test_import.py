"""Importing transcripts the way a researcher does: files on disk through the CLI."""

import json
from pathlib import Path

import pytest

from koodari.store import Study
from tests.conftest import fingerprint

TRANSCRIPT = """\
Haastattelu 3, Kajaani

T1: Osaaminen

H: Mitä osaamista työssäsi tarvitaan?
P7: Kaikista tärkein se on tuo ihmisten ossaaminen. Jokkainen voijaan tietää se kyllä.
Se on hirveen tärkee asia -- pittää osata kuunnella.
H: Entä muuta?
P7: Esim. verkostot ja yhteistyö, ne on tärkeitä.

Teema 2

Haastattelija: Mikä kuormittaa?
E3: Kiire. Aekaa ei oo tarpeeksi.
"""


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def units(study_path: Path) -> list[dict]:
    with Study.open(study_path) as study:
        doc_text = {d["id"]: d["text"] for d in study.documents()}
        rows = []
        for s in study.segments():
            assert doc_text[s["document_id"]][s["char_start"] : s["char_end"]] == s["text"]
            rows.append(dict(s))
        return rows


def test_txt_speakers_themes_and_exact_offsets(tmp_path, cli, study_path):
    path = write(tmp_path, "haastattelu.txt", TRANSCRIPT)
    result = cli("import", study_path, path, "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    rows = units(study_path)
    assert counts == {"documents": 1, "segments": len(rows)}
    texts = [r["text"] for r in rows]
    assert "Kaikista tärkein se on tuo ihmisten ossaaminen." in texts
    assert "Jokkainen voijaan tietää se kyllä." in texts
    assert "Se on hirveen tärkee asia" in texts and "pittää osata kuunnella." in texts
    assert "Esim. verkostot ja yhteistyö, ne on tärkeitä." in texts  # no split after an abbreviation
    by_text = {r["text"]: r for r in rows}
    assert by_text["Jokkainen voijaan tietää se kyllä."]["speaker"] == "P7"
    assert by_text["Jokkainen voijaan tietää se kyllä."]["theme"] == "T1: Osaaminen"
    assert by_text["Kiire."]["speaker"] == "E3" and by_text["Kiire."]["theme"] == "Teema 2"
    assert by_text["Mikä kuormittaa?"]["is_interviewer"] == 1
    assert by_text["Kiire."]["is_interviewer"] == 0
    assert "Haastattelu 3, Kajaani" not in texts  # a heading line, not an utterance


def test_reimport_is_a_noop(tmp_path, cli, study_path):
    path = write(tmp_path, "a.txt", TRANSCRIPT)
    assert cli("import", study_path, path).exit_code == 0
    before = fingerprint(study_path)
    result = cli("import", study_path, path, "--json")
    assert result.exit_code == 0
    assert json.loads(result.output) == {"documents": 0, "segments": 0}
    copy = write(tmp_path, "copy-with-other-name.txt", TRANSCRIPT)
    assert json.loads(cli("import", study_path, copy, "--json").output)["documents"] == 0
    assert fingerprint(study_path) == before


@pytest.mark.parametrize(
    "encoding, prefix",
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b""), ("latin-1", b""), ("utf-16", b"")],
)
def test_encodings_keep_finnish_letters(tmp_path, cli, study_path, encoding, prefix):
    text = "V: Tärkeintä on ymmärtää asiakkaan elämää. Öisin ei nukuta, äiti sanoo – Åke myös.\r\n"
    if encoding == "latin-1":
        text = text.replace("–", "-")
    path = write(tmp_path, f"{encoding}.txt", prefix + text.encode(encoding))
    assert cli("import", study_path, path).exit_code == 0
    joined = " ".join(r["text"] for r in units(study_path))
    assert "Tärkeintä on ymmärtää asiakkaan elämää." in joined
    assert "Öisin ei nukuta, äiti sanoo" in joined and "Åke" in joined
    with Study.open(study_path) as study:
        assert "\r" not in study.documents()[0]["text"]


def test_docx(tmp_path, cli, study_path):
    import docx

    document = docx.Document()
    document.add_paragraph("T3")
    document.add_paragraph("H: Millaista yhteistyö on?")
    document.add_paragraph("P2: Te-toimisto on tosi tärkee. Yhessä tehhään paljon.")
    path = tmp_path / "haastattelu.docx"
    document.save(path)
    assert cli("import", study_path, path).exit_code == 0
    rows = units(study_path)
    p2 = [r["text"] for r in rows if r["speaker"] == "P2"]
    assert p2 == ["Te-toimisto on tosi tärkee.", "Yhessä tehhään paljon."]
    assert all(r["theme"] == "T3" for r in rows)


VTT = """WEBVTT

NOTE T2

1
00:00:01.000 --> 00:00:04.500
<v Haastattelija>Mikä kuormittaa työssä?</v>

2
00:00:05.000 --> 00:00:09.250
<v P6>Johtaminen pitäs tehä eri tavalla. Se auttais.</v>

00:01:02.000 --> 00:01:03.000
P6: Kiire.
"""

SRT = """1
00:00:01,000 --> 00:00:03,000
H: Mitä kuuluu?

2
00:00:03,500 --> 00:00:08,000
P1: Jokkainen voijaan tietää se kyllä.
Se on iso tuo tulo.
"""


def test_vtt_keeps_timestamps_and_voices(tmp_path, cli, study_path):
    path = write(tmp_path, "h.vtt", VTT)
    assert cli("import", study_path, path).exit_code == 0
    rows = units(study_path)
    by_text = {r["text"]: r for r in rows}
    assert by_text["Johtaminen pitäs tehä eri tavalla."]["speaker"] == "P6"
    assert by_text["Johtaminen pitäs tehä eri tavalla."]["time_start"] == 5.0
    assert by_text["Se auttais."]["time_end"] == 9.25
    assert by_text["Kiire."]["time_start"] == 62.0
    assert by_text["Mikä kuormittaa työssä?"]["is_interviewer"] == 1
    assert by_text["Kiire."]["theme"] == "NOTE T2" or by_text["Kiire."]["theme"] is None


def test_srt(tmp_path, cli, study_path):
    path = write(tmp_path, "h.srt", SRT)
    assert cli("import", study_path, path).exit_code == 0
    rows = units(study_path)
    p1 = [r for r in rows if r["speaker"] == "P1"]
    assert [r["text"] for r in p1] == ["Jokkainen voijaan tietää se kyllä.", "Se on iso tuo tulo."]
    assert p1[0]["time_start"] == 3.5 and p1[0]["time_end"] == 8.0


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("missing.txt", None, "no such file"),
        ("empty.txt", b"", "file is empty"),
        ("blank.txt", b"  \n\n ", "file is empty"),
        ("binary.txt", bytes(range(256)) * 4, "binary file"),
        ("undecodable.txt", "Päivää ".encode("cp1252") + b"\x81\x8d\x90 teksti", "cannot decode"),
        ("transcript.pdf", b"%PDF-1.4 ...", "unknown transcript format"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "not a valid .docx"),
        ("nocues.vtt", b"WEBVTT\n\njust text\n", "no cues"),
    ],
)
def test_bad_input_one_line_error_and_study_unchanged(tmp_path, cli, study_path, name, data, message):
    good = write(tmp_path, "good.txt", TRANSCRIPT)
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    before = fingerprint(study_path)
    result = cli("import", study_path, good, path)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert name in lines[0] and message in lines[0]
    assert fingerprint(study_path) == before  # the good file before it was not imported either


def test_import_into_a_non_study(tmp_path, cli):
    fake = write(tmp_path, "fake.koodari", "hello")
    good = write(tmp_path, "good.txt", TRANSCRIPT)
    result = cli("import", fake, good)
    assert result.exit_code != 0 and "not a koodari study" in result.output
    assert fake.read_text() == "hello"


def test_theme_links_units_to_research_questions(tmp_path, cli, seed_study):
    path = write(tmp_path, "t8.txt", "T8\n\nP6: Te-toimisto on tosi tärkee.\n\nTeema 10\n\nP6: Kiire kuormittaa.\n")
    assert cli("import", seed_study, path).exit_code == 0
    result = cli("units", seed_study, "--json")
    rows = {r["text"]: r for r in json.loads(result.output)}
    assert rows["Te-toimisto on tosi tärkee."]["question"] == "T8"
    assert rows["Kiire kuormittaa."]["question"] == "T10"


def test_question_option_overrides(tmp_path, cli, seed_study):
    path = write(tmp_path, "x.txt", "P6: Kiire kuormittaa.\n")
    assert cli("import", seed_study, path, "--question", "T10").exit_code == 0
    rows = json.loads(cli("units", seed_study, "--json").output)
    assert rows[0]["question"] == "T10"
