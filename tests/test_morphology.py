"""Voikko's lemmas for words stanza's lemmatizer never saw (the pipeline's ``morphology`` stage)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from koodari.nlp.pipeline import Draft, FinnishPipeline, MorphologyCheck, Word

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# words the lemmatizer's training dictionary lacks, where its seq2seq guesses wrong (päätyy → *päädä*,
# toisivat → *toisia*, rikotaan → *rikota*, poikkeuslupahakemukset → *poikkeuslupahakemumus*)
SENTENCES = "Hän päätyy aina samaan paikkaan .\nLapset toisivat kukkia , jos rikotaan ikkuna .\n" \
            "Valmentaja käsitteli poikkeuslupahakemukset .\n"
EXPECTED = {"päätyy": "päätyä", "toisivat": "tuoda", "rikotaan": "rikkoa",
            "poikkeuslupahakemukset": "poikkeus#lupa#hakemus", "paikkaan": "paikka", "kukkia": "kukka"}


def lemmas(output: str) -> dict[str, str]:
    return {t["text"]: t["lemma"] for line in output.splitlines() for t in json.loads(line)["tokens"]}


def run_koodari(*args: str, env: dict | None = None, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}from koodari.cli import app; app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def test_lemmatise_gives_voikkos_lemma_for_unseen_words(cli, tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text(SENTENCES, encoding="utf-8")
    result = cli("lemmatise", "--file", path, "--pretokenized", "--json")
    assert result.exit_code == 0, result.output
    found = lemmas(result.output)
    assert {word: found[word] for word in EXPECTED} == EXPECTED
    # the same words without the stage: stanza's guesses, so the stage is what put them right
    without = FinnishPipeline(morphology=False).analyse_pretokenized([s.split() for s in SENTENCES.splitlines()])
    guessed = {t.text: t.lemma for s in without for t in s}
    assert all(guessed[w] != EXPECTED[w] for w in ("päätyy", "toisivat", "rikotaan", "poikkeuslupahakemukset"))


def test_known_words_keep_the_lemmatizers_lemma():
    pipe = FinnishPipeline(normalise=False)
    assert "morphology" in pipe.pipe_names and "voikko:1" in pipe.id
    stage = next(stage for stage in pipe.stages if isinstance(stage, MorphologyCheck))
    # "jälkeen" is in the training dictionary (lemma "jälkeen"); if a tagger calls it a noun, Voikko alone would
    # make it "jälki" (its noun reading) - the stage leaves a word the lemmatizer knows alone
    assert pipe._voikko.correct("jälkeen", "NOUN", "jälkeen") == "jälki"
    word = Word("jälkeen", "NOUN", "jälkeen")
    stage([[Draft("jälkeen", normalised="jälkeen", words=[word])]])
    assert word.lemma == "jälkeen"
    unseen = Word("päätyy", "VERB", "päädä")
    stage([[Draft("päätyy", normalised="päätyy", words=[unseen])]])
    assert unseen.lemma == "päätyä"


def test_a_damaged_voikko_package_is_named_in_one_line(tmp_path):
    broken = tmp_path / "site" / "pyvoikko"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise OSError('voikko.kfst: truncated file')\n", encoding="utf-8")
    result = run_koodari("lemmatise", "--text", "Hän päätyy kotiin.", env={"PYTHONPATH": f"{tmp_path / 'site'}"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    message = (result.stdout + result.stderr).strip()
    assert len(message.splitlines()) == 1
    assert "pyvoikko" in message and "pip install pyvoikko" in message


def test_without_voikko_the_pipeline_still_lemmatises():
    result = run_koodari("lemmatise", "--text", "Se on hirveen tärkee asia.", "--json",
                         prelude="import sys; sys.modules['pyvoikko'] = None; ")
    assert result.returncode == 0, result.stderr
    assert lemmas(result.stdout)["tärkee"] == "tärkeä"


def test_a_10000_character_word_is_kept_as_written(tmp_path):
    # a transcript turn with no spaces: stanza's tokenizer called it "<UNK>", its lemmatizer then ran for minutes
    # and Voikko's transducer crashed the whole process on it
    path = tmp_path / "turn.txt"
    path.write_text("Mä sanoin " + "talo" * 2500 + " ja lähdin.\n", encoding="utf-8")
    result = run_koodari("lemmatise", "--file", str(path), "--json")
    assert result.returncode == 0, result.stderr[-500:]
    tokens = [t for line in result.stdout.splitlines() for t in json.loads(line)["tokens"]]
    assert "".join(t["text"] for t in tokens if t["text"].startswith("talo")) == "talo" * 2500
    assert tokens[-1]["text"] == "." and tokens[0]["lemma"] == "minä"
    long = next(t for t in tokens if len(t["text"]) == 10_000)
    assert long["normalised"] == long["lemma"] == long["text"] and long["upos"] == "X"
