"""One interview end to end through the CLI: `koodari analyse` loads the Finnish models but not the suggestion
model's libraries, and after it `suggest --file` and `search` on the units' texts take every analysis from the
study's cache and never load the Finnish models."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from koodari.store import Study
from tests.conftest import fingerprint

pytestmark = pytest.mark.slow

REDUCTIONS = """reduction;subcategory;upper;combining;question
asiakas on yksinäinen;yksinäisyys;sosiaaliset ongelmat;elämäntilanne;T1
ystävät puuttuvat elämästä;yksinäisyys;sosiaaliset ongelmat;elämäntilanne;T1
rahat ei riitä mihinkään;taloudelliset vaikeudet;taloudelliset ongelmat;elämäntilanne;T1
velkaa on paljon;taloudelliset vaikeudet;taloudelliset ongelmat;elämäntilanne;T1
selkä on kipeä;terveysongelmat;terveys;elämäntilanne;T1
sairaus estää työnteon;terveysongelmat;terveys;elämäntilanne;T1
"""

TRANSCRIPT = """H: Miten teillä menee nykyään?
V: No ei oo ketään kenen kans puhua. Illat on pitkiä.
H: Entä raha-asiat?
V: Rahat loppuu aina kesken kuukautta ja velkoja on.
H: Entä terveys?
V: Selkä on ollut kipeä pitkään ja lääkäriin on vaikee päästä.
"""

FINNISH_MODELS = {"stanza", "spacy"}  # (torch alone is the sentence encoder's too)

# runs one `koodari` command in a fresh process and reports, on stderr's last line, which of the Finnish models'
# libraries (torch, stanza, spaCy) and the suggestion model's (scikit-learn) it imported
RUN_AND_REPORT = """
import json, sys
from koodari.cli import app
code = 0
try:
    app(sys.argv[1:], prog_name="koodari")
except SystemExit as exc:
    code = exc.code
print(json.dumps(sorted(m for m in ("torch", "stanza", "spacy", "sklearn") if m in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def koodari_in_fresh_process(*args: str | Path) -> tuple[str, list[str]]:
    """stdout of `koodari ARGS` run in a new Python process, and the libraries that process imported."""
    result = subprocess.run([sys.executable, "-c", RUN_AND_REPORT, *map(str, args)], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, json.loads(result.stderr.strip().splitlines()[-1])


def test_suggest_and_search_after_analyse_take_every_analysis_from_the_cache(cli, tmp_path):
    analysed, fresh = tmp_path / "analysed.koodari", tmp_path / "fresh.koodari"
    (tmp_path / "r.csv").write_text(REDUCTIONS, encoding="utf-8")
    (tmp_path / "t.txt").write_text(TRANSCRIPT, encoding="utf-8")
    assert cli("init", analysed).exit_code == 0
    assert cli("reductions", "import", analysed, tmp_path / "r.csv").exit_code == 0
    assert cli("import", analysed, tmp_path / "t.txt", "--question", "T1").exit_code == 0
    trained = cli("train", analysed, "--folds", "0")
    assert trained.exit_code == 0, trained.output
    src, dst = sqlite3.connect(analysed), sqlite3.connect(fresh)  # the same study and model, units not analysed
    src.backup(dst)
    src.close()
    dst.close()
    _, loaded = koodari_in_fresh_process("analyse", analysed)
    assert loaded and "sklearn" not in loaded  # the Finnish models, and nothing of the suggestion model
    with Study.open(analysed) as study:
        texts = [row.text for row in study.units_for_search()]
    assert len(texts) == 4  # the interviewee's units (the first turn is two sentences)
    utterances = tmp_path / "units.txt"
    utterances.write_text("\n".join(texts) + "\n", encoding="utf-8")
    before = fingerprint(analysed)

    suggest = ("suggest", "--file", utterances, "--question", "T1", "--json")
    cached, loaded = koodari_in_fresh_process(suggest[0], analysed, *suggest[1:])
    assert not FINNISH_MODELS & set(loaded)  # every analysis came from the cache: no Finnish model was loaded
    found, loaded = koodari_in_fresh_process("search", analysed, texts[2], "--json", "--top", "2")
    assert not FINNISH_MODELS & set(loaded)
    assert json.loads(found)[0]["text"] == texts[2]
    assert fingerprint(analysed) == before  # reading the cache writes nothing

    # the same utterances in the study that was never analysed: analysed now, and the same suggestions
    with Study.open(fresh) as study:
        assert study.conn.execute("SELECT count(*) FROM segment_nlp").fetchone()[0] == 0
    result = cli(suggest[0], fresh, *suggest[1:])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == \
        [json.loads(line) for line in cached.splitlines()]
    assert len(cached.splitlines()) == 4 and all(json.loads(line) for line in cached.splitlines())
