"""The dialect normaliser on the seed study's phenomena and quotes."""

import json
from pathlib import Path

import pytest

from koodari.nlp.normaliser import Normaliser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def normaliser() -> Normaliser:
    return Normaliser.load()


@pytest.mark.parametrize(
    "spoken, standard",
    [
        # gemination
        ("jokkainen", "jokainen"),
        ("tullee", "tulee"),
        ("ossaaminen", "osaaminen"),
        ("pittää", "pitää"),
        # -eA > -ee and other vowel assimilation
        ("tärkee", "tärkeä"),
        ("hirveen", "hirveän"),
        ("toimeentulotukkee", "toimeentulotukea"),
        ("oikeestaan", "oikeastaan"),
        ("tietoo", "tietoa"),
        # epenthetic vowels
        ("vanahemmat", "vanhemmat"),
        ("palakka", "palkka"),
        ("helepompi", "helpompi"),
        ("palijon", "paljon"),
        # lost or changed d
        ("viiä", "viedä"),
        ("voijaan", "voidaan"),
        ("tehä", "tehdä"),
        ("vuojen", "vuoden"),
        ("yhessä", "yhdessä"),
        # ae for ai
        ("aekaa", "aikaa"),
        # shortened verb forms
        ("ollu", "ollut"),
        ("pitäs", "pitäisi"),
        ("ois", "olisi"),
        ("saapi", "saa"),
        # clitics
        ("muuhi", "muukin"),
        ("pitäski", "pitäisikin"),
        ("tulostaki", "tulostakin"),
        # colloquial pronouns and words
        ("mä", "minä"),
        ("mie", "minä"),
        ("myö", "me"),
        ("semmonen", "semmoinen"),
        ("niinku", "niin kuin"),
    ],
)
def test_dialect_phenomena(normaliser, spoken, standard):
    assert normaliser.normalise(spoken) == standard


@pytest.mark.parametrize(
    "word",
    [
        "osaaminen",
        "työvalmentaja",
        "kuulla",
        "tulee",
        "asiakkaan",
        "kuntoutus",
        "ja",
        "että",
        "tärkeä",
        "kello",
        "Kajaani",
        "Te-toimisto",
        "2012",
        "tuotannossa",
    ],
)
def test_standard_words_are_never_corrected(normaliser, word):
    assert normaliser.normalise(word) == word


def test_case_is_kept(normaliser):
    assert normaliser.normalise("Jokkainen") == "Jokainen"
    assert normaliser.normalise("TÄRKEE") == "TÄRKEÄ"


def test_punctuation_and_numbers_pass_through(normaliser):
    for token in [",", ".", "--", "(2h)", "12.30", "kl.12.30–13.45"]:
        assert normaliser.normalise(token) == token


def test_seed_quotes_dialect_features(normaliser):
    """Most tagged dialect tokens of the 138 thesis quotes get their standard form."""
    total = correct = 0
    for line in (ROOT / "corpora" / "kainuu-2012" / "quotes.jsonl").read_text(encoding="utf-8").splitlines():
        for feature in json.loads(line)["dialect_features"]:
            standards = [
                s.strip().lower().split("(")[0].strip() for s in feature["standard"].replace(",", "/").split("/")
            ]
            # koodari follows SKN: semmonen → semmoinen (a standard word), not the synonym sellainen
            standards += [s.replace("sellai", "semmoi").replace("tällai", "tämmöi") for s in standards]
            total += 1
            correct += normaliser.normalise(feature["token"]).lower() in standards
    assert total > 350
    assert correct / total >= 0.75, f"{correct}/{total}"


def test_context_decides_between_readings(normaliser):
    """A neighbouring word picks the reading when SKN showed it does (e.g. `ko` as `kuin` or `kun`)."""
    assert normaliser.context, "context pairs are shipped"
    (side, neighbour, word), standard = next(iter(normaliser.context.items()))
    sentence = [neighbour, word] if side == "prev" else [word, neighbour]
    result = normaliser.normalise_tokens(sentence)
    assert result[sentence.index(word)].lower() == standard
