"""The rule-based tokeniser and sentence splitter: Finnish abbreviations, ordinals and dates, transcript habits,
exact offsets, bad input without a lost character, and no torch to tokenise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koodari.nlp.tokeniser import sentences
from tests.conftest import ROOT


def words(text: str) -> list[list[str]]:
    return [[t for t, _, _ in s] for s in sentences(text)]


def check_offsets_and_coverage(text: str, spans) -> None:
    """Every token is text[start:end] and has no whitespace; the tokens, in order, are every visible character."""
    tokens = [t for s in spans for t in s]
    for token, start, end in tokens:
        assert text[start:end] == token and token and not any(ch.isspace() for ch in token)
    assert [t[1] for t in tokens] == sorted(t[1] for t in tokens)
    assert all(a[2] <= b[1] for a, b in zip(tokens, tokens[1:], strict=False))
    assert "".join(t[0] for t in tokens) == "".join(text.split())


def test_abbreviations_do_not_end_a_sentence():
    text = "Tapasimme esim. klo 12.30 tri Virtasen ja mm. prof. Laineen. Se on n. 5 km:n päässä, ns. kylän laidalla."
    assert words(text) == [
        ["Tapasimme", "esim.", "klo", "12.30", "tri", "Virtasen", "ja", "mm.", "prof.", "Laineen", "."],
        ["Se", "on", "n.", "5", "km:n", "päässä", ",", "ns.", "kylän", "laidalla", "."],
    ]


def test_a_list_ending_abbreviation_before_a_capital_ends_the_sentence():
    assert words("Ostettiin maitoa, leipää jne. Sitten lähdettiin. Omenat, päärynät yms. ovat halpoja.") == [
        ["Ostettiin", "maitoa", ",", "leipää", "jne", "."],
        ["Sitten", "lähdettiin", "."],
        ["Omenat", ",", "päärynät", "yms.", "ovat", "halpoja", "."],
    ]


def test_ordinals_and_dates():
    text = "Se oli 1.12.2020 kun 3. luokka alkoi. Tänään 4.5. on juhla. Hän tuli sijalle 13. Iglesias voitti."
    assert words(text) == [
        ["Se", "oli", "1.12.2020", "kun", "3.", "luokka", "alkoi", "."],
        ["Tänään", "4.5.", "on", "juhla", "."],
        ["Hän", "tuli", "sijalle", "13", "."],
        ["Iglesias", "voitti", "."],
    ]


def test_transcript_habits():
    """No capital after a full stop, '...' pauses, emoticons, quotes and speaker turns on their own lines."""
    text = ("P1: mä menin sinne. sit mä tulin takas... no niin. Se oli kivaa:) Joo.\n"
            'H: Mitä se sano? "Ei käy." Just niin!')
    assert words(text) == [
        ["P1:"], ["mä", "menin", "sinne", "."], ["sit", "mä", "tulin", "takas", "...", "no", "niin", "."],
        ["Se", "oli", "kivaa", ":)"], ["Joo", "."],
        ["H:"], ["Mitä", "se", "sano", "?"], ['"', "Ei", "käy", ".", '"'], ["Just", "niin", "!"],
    ]


def test_finnish_words_with_inner_punctuation():
    text = "EU:n ja H&M:n Luonto-Liitto, talous- ja -listalla ja/tai 2–1 www.yle.fi, matti@example.com <3 😀👍🏽 🇫🇮"
    assert words(text) == [["EU:n", "ja", "H&M:n", "Luonto-Liitto", ",", "talous-", "ja", "-listalla", "ja/tai", "2–1",
                             "www.yle.fi", ",", "matti@example.com", "<3", "😀", "👍🏽", "🇫🇮"]]
    assert words("5 %:lla, 3 §:n ja 10 €:sta: 20:een") == [["5", "%:lla", ",", "3", "§:n", "ja", "10", "€:sta", ":",
                                                           "20:een"]]


@pytest.mark.parametrize("text", [
    "", "\n\n   \n", "Ensimmäinen rivi.\n\n\nToinen rivi\n\n", "Tässä on \x00nolla\x07 ja \x1bescape ja \u200bväli.",
    "Mixed скрипты 混合 and emoji 😀👍🏽 mä oon 🇫🇮 kotona", "Tab\tja\rrivinvaihto\r\n ja ei-katkeava\u00a0väli",
    "talo" * 2500, "!?" * 3000, ". " * 2000, "mä oon sitä mieltä että " * 400, '"' * 10_000, "a.-" * 3000,
])
def test_bad_input_loses_no_character(text):
    check_offsets_and_coverage(text, sentences(text))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
       | st.text(alphabet="aäöA .,:;!?-–\"'()…\n\t0123456789#@&/*😀🏽\u200d", max_size=200))
def test_any_text_keeps_every_character_with_exact_offsets(text):
    check_offsets_and_coverage(text, sentences(text))


def test_tokenising_needs_no_torch():
    """koodari's shipped models tokenise raw text without importing torch or stanza."""
    probe = ("import sys; from koodari.nlp.pipeline import FinnishPipeline; p = FinnishPipeline();"
             " s = p.tokenize('Se oli esim. 3. luokka. Mä oon kotona.');"
             " print(len(s), 'torch' in sys.modules, 'stanza' in sys.modules, '+tok:rules' in p.id)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "False", "False", "True"]


@pytest.mark.slow
def test_lemmatise_cli_splits_and_keeps_offsets(cli, tmp_path):
    """`koodari lemmatise --file`: the sentences split on Finnish rules, every token's offsets point into the file,
    and control characters, emoji and a 10,000-character sentence lose no character."""
    long_turn = ("mä oon sitä mieltä että tää on hirveen tärkee asia " * 250)[:10_000]
    text = ("Tapasimme esim. klo 12.30 tri Virtasen, ja 3. luokka alkoi 1.12.2020. mä menin sinne... no niin.\n\n"
            f"Tässä \x07on\u200b emoji 😀👍🏽 ja скрипты 混合 🇫🇮\n\n{long_turn}\n")
    path = tmp_path / "teksti.txt"
    path.write_text(text, encoding="utf-8")
    result = cli("lemmatise", "--file", path, "--json")
    assert result.exit_code == 0, result.output
    sents = [[(t["text"], t["start"], t["end"]) for t in json.loads(line)["tokens"]]
             for line in result.output.splitlines()]
    check_offsets_and_coverage(text, sents)
    assert [s[-1][0] for s in sents[:2]] == [".", "."]
    assert [t for t, _, _ in sents[0]][:7] == ["Tapasimme", "esim.", "klo", "12.30", "tri", "Virtasen", ","]
    assert "3." in [t for t, _, _ in sents[0]] and "1.12.2020" in [t for t, _, _ in sents[0]]
    assert [t for t, _, _ in sents[1]] == ["mä", "menin", "sinne", "...", "no", "niin", "."]
    assert sum(len(s) for s in sents[-1:]) == len(long_turn.split())


@pytest.mark.slow
def test_analyses_cut_by_stanzas_tokenizer_are_recomputed(cli, study_path, tmp_path):
    """The pipeline id names the tokeniser: units a study analysed with stanza's tokenizer (koodari before the
    rule-based tokeniser) are analysed again by `koodari analyse`, and then kept."""
    from koodari.nlp.cache import ensure_analysed
    from koodari.nlp.pipeline import FinnishPipeline
    from koodari.store import Study

    path = tmp_path / "h.txt"
    path.write_text("P1: Se oli esim. 3. luokka. Mä oon kotona.\nP2: Kiire kuormittaa.\n", encoding="utf-8")
    assert cli("import", study_path, path).exit_code == 0
    with Study.open(study_path) as study:
        units = ensure_analysed(study, FinnishPipeline(tokeniser="stanza"))
    assert units >= 2
    for analysed in (units, 0):
        result = cli("analyse", study_path, "--json")
        assert result.exit_code == 0, result.output
        assert (json.loads(result.output)["analysed"], json.loads(result.output)["units"]) == (analysed, units)
