"""simplemma's Finnish dictionary through its trie backend: built once into a cache folder, the same answers as
simplemma's own stream, and a damaged cache file rebuilt instead of failing an analysis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORDS = ["talossa", "koirat", "menin", "Helsingissä", "poikkeuslupahakemukset", "katotaan", "hirveen", "xyzzyä",
         "työvalmentajan", "kävin", "lapsille", "ÄITI", "\x00nolla", "a\x00", "\x00", "nolla\x07"]

PROBE = """
import json, sys
import simplemma
from koodari.nlp.dictionary import finnish_dictionary
words = json.loads(sys.argv[1])
d = finnish_dictionary()
print(json.dumps({
    "backend": d.backend,
    "ours": [[d.is_known(w), d.lemmatize(w)] for w in words],
    "simplemma": [[simplemma.is_known(w, lang="fi", low_memory=True),
                   simplemma.lemmatize(w, lang="fi", low_memory=True)] for w in words],
}))
"""


def probe(cache: Path) -> dict:
    env = dict(os.environ, KOODARI_DICTIONARY_CACHE=str(cache))
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(WORDS)], env=env, capture_output=True, text=True,
                         check=True)
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
def test_trie_built_once_same_answers_and_a_damaged_cache_is_rebuilt(tmp_path):
    cache = tmp_path / "dictionary"
    first = probe(cache)
    assert first["backend"] == "trie"
    assert first["ours"] == first["simplemma"]
    assert [known for known, _ in first["ours"]][:4] == [True, True, True, True]
    trie = cache / "fi.dic"
    assert trie.is_file() and trie.stat().st_size > 1_000_000
    trie.write_bytes(b"not a trie")  # a crash while writing, a disk error
    again = probe(cache)
    assert again["ours"] == first["ours"]
    assert trie.stat().st_size > 1_000_000  # rebuilt
