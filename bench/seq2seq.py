"""The numpy lemmatizer against stanza's, word for word, and what dropping torch saves; written to BENCHMARKS.md.

    python bench/seq2seq.py [--ud ../shared/ud-finnish] [--skn ../shared/dialect-skn] [--before REV] [--no-write]

* Identity: koodari's lemmatizer (``models/stanza/fi_koodari_lemmatizer.npz``, ``koodari.nlp.seq2seq``) and
  stanza's pipeline over the checkpoint it was exported from give the same lemma for every distinct (word, UPOS)
  of UD Finnish-TDT *dev* (UPOS from spaCy's morphologizer; never TDT test) and every pair koodari's pipeline
  lemmatises in the seed corpus' quotes and demo transcript; the dialect model (``skn-seq2seq.npz``) the same
  guess for every distinct SKN dialect word. Each also with the training dictionary off (``predict``: the seq2seq
  on every word, stanza with ``lemma_ensemble_dict=False``), and the dictionary-derived tables the pipeline uses.
  spaCy's UPOS on TDT dev with torch hidden (koodari's loader) against a process that imported torch first.
* Speed: CPU seconds of both on the same pairs (models loaded); then start-up of a fresh process
  (``FinnishPipeline()`` and one pretokenized sentence) and warm pretokenized throughput on 8,000 SKN dialect
  tokens, for this commit and for ``--before`` (the commit before the numpy lemmatizer, exported and run here).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))

from build_normaliser import read_skn, split_skn  # noqa: E402

from bench._report import write_section  # noqa: E402
from koodari import app as actions  # noqa: E402
from koodari.nlp.dialect_model import DialectModel  # noqa: E402
from koodari.nlp.loader import stanza_pipeline  # noqa: E402
from koodari.nlp.pipeline import (  # noqa: E402
    _compound_forms,
    _training_lemmas,
    stanza_lemmas,
)
from koodari.nlp.resources import normaliser_dir, stanza_dir  # noqa: E402

BEFORE = "3ead02b"  # main before the numpy lemmatizer
WORD = re.compile(r"\w+(?:[-:']\w+)*|[^\w\s]", re.UNICODE)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def conllu_sentences(path: Path) -> list[list[str]]:
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) == 10 and cols[0].isdigit():
            current.append(cols[1])
        elif not line.strip() and current:
            sentences.append(current)
            current = []
    return sentences + ([current] if current else [])


def seed_sentences() -> list[list[str]]:
    corpus = ROOT / "corpora" / "kainuu-2012"
    texts = [json.loads(line)["text"] for line in (corpus / "quotes.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    texts += (corpus / "demo-transcript.txt").read_text(encoding="utf-8").splitlines()
    return [WORD.findall(t) for t in texts if WORD.findall(t)]


def stanza_lemmatizer(checkpoint: Path, ensemble: bool) -> object:
    return stanza_pipeline(lang="fi", processors="tokenize,lemma", dir=str(stanza_dir()),
                           tokenize_model_path=str(stanza_dir() / "fi_koodari_tokenizer.pt"),
                           lemma_model_path=str(checkpoint), lemma_ensemble_dict=ensemble, tokenize_pretokenized=True,
                           download_method=None, use_gpu=False, logging_level="ERROR", allow_unknown_language=True)


def compare(name: str, model, checkpoint: Path, pairs: list[tuple[str, str]]) -> list[dict]:
    """Rows: the full lemmatizer and the seq2seq alone, numpy against stanza, differences and CPU seconds."""
    rows = []
    for mode, ensemble in (("dictionary + seq2seq", True), ("seq2seq on every word", False)):
        nlp = stanza_lemmatizer(checkpoint, ensemble)
        stanza_lemmas(nlp, pairs[:5])  # warm
        t = cpu()
        theirs = stanza_lemmas(nlp, pairs)
        stanza_s = cpu() - t
        t = cpu()
        ours = model.lemmatise(pairs) if ensemble else model.predict([w for w, _ in pairs], [u for _, u in pairs])
        numpy_s = cpu() - t
        diffs = [(p, a, b) for p, a, b in zip(pairs, ours, theirs, strict=True) if a != b]
        seq2seq = len(pairs) if not ensemble else sum(model.lookup(w, u) is None for w, u in pairs)
        rows.append({"set": name, "mode": mode, "pairs": len(pairs), "seq2seq": seq2seq, "diffs": len(diffs),
                     "examples": diffs[:5], "stanza": stanza_s, "numpy": numpy_s})
        print(rows[-1], flush=True)
    return rows


SPACY_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
{first}
from koodari.nlp.pipeline import FinnishPipeline
p = FinnishPipeline()
print(json.dumps([p._spacy_upos(json.loads(sys.stdin.read())), "torch" in sys.modules]))
"""


def spacy_upos(sentences: list[list[str]], with_torch: bool) -> tuple[list[list[str]], bool]:
    code = SPACY_PROBE.format(root=str(ROOT), first="import torch" if with_torch else "")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(sentences), capture_output=True, text=True,
                         check=True).stdout
    tags, torch_loaded = json.loads(out)
    return tags, torch_loaded


SPEED_PROBE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
t0, c0 = time.perf_counter(), cpu()
from koodari.nlp.pipeline import FinnishPipeline
p = FinnishPipeline()
p.analyse_pretokenized([["Mä", "oon", "kotona", "."]])
load, load_cpu = time.perf_counter() - t0, cpu() - c0
warm, timed = json.loads(sys.stdin.read())
p.analyse_pretokenized(warm)
t0, c0 = time.perf_counter(), cpu()
p.analyse_pretokenized(timed)
print(json.dumps({{"load": load, "load:cpu": load_cpu, "warm": time.perf_counter() - t0, "warm:cpu": cpu() - c0,
                  "torch": "torch" in sys.modules, "stanza": "stanza" in sys.modules}}))
"""


def speed(root: Path, warm: list[list[str]], timed: list[list[str]]) -> dict:
    """Start-up and warm pretokenized throughput of the code in ``root``, in a fresh process (best of 2)."""
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", SPEED_PROBE.format(root=str(root))], cwd=root,
                             input=json.dumps([warm, timed]), capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: min(r[key] for r in runs) if isinstance(runs[0][key], float) else runs[0][key] for key in runs[0]}


def skn_blocks(skn: Path, tokens: int = 8000) -> tuple[list[list[str]], list[list[str]]]:
    """Two disjoint blocks of SKN held-out utterances as pretokenized sentences: a warm-up and the timed one."""
    _, held_out = split_skn(read_skn(skn / "skn3a-dev.norm"))
    blocks: list[list[list[str]]] = [[], []]
    count = [0, 0]
    for utterance in held_out:
        i = 0 if count[0] < 2000 else 1
        blocks[i].append([d for d, _ in utterance])
        count[i] += len(utterance)
        if count[1] >= tokens:
            break
    return blocks[0], blocks[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    tdt = conllu_sentences(args.ud / "fi_tdt-ud-dev.conllu")
    pipe = actions.pipeline()
    lemmatizer = pipe._lemma_trainer
    upos = pipe._spacy_upos(tdt)
    tdt_pairs = sorted({(w, u) for ws, us in zip(tdt, upos, strict=True) for w, u in zip(ws, us, strict=True)})
    fed: list[tuple[str, str]] = []
    tagger = pipe.stages[1]
    original = tagger.lemmatise
    tagger.lemmatise = lambda pairs: (fed.extend(pairs), original(pairs))[1]
    pipe.analyse_pretokenized(seed_sentences())
    tagger.lemmatise = original
    seed_pairs = sorted(set(fed))
    skn_words = sorted({d.lower() for u in read_skn(args.skn / "skn3a-dev.norm") for d, _ in u if d.strip()})

    checkpoint = stanza_dir() / "fi_koodari_lemmatizer.pt"
    rows = compare("TDT dev, spaCy UPOS", lemmatizer, checkpoint, tdt_pairs)
    rows += compare("seed corpus, as the pipeline lemmatises it", lemmatizer, checkpoint, seed_pairs)
    dialect = DialectModel(normaliser_dir() / "skn-seq2seq.npz")
    rows += compare("SKN dialect words, dialect model", dialect._model, normaliser_dir() / "skn-seq2seq.pt",
                    [(w, "X") for w in skn_words])
    trainer = stanza_lemmatizer(checkpoint, True).processors["lemma"]._trainer
    tables_equal = (_compound_forms(lemmatizer) == _stanza_compound_forms(trainer)
                    and _training_lemmas(lemmatizer) == _stanza_training_lemmas(trainer)
                    and all((lemmatizer.lookup(w, u) is None) == (trainer._lookup(w, u) is None) for w, u in tdt_pairs))
    hidden, hidden_torch = spacy_upos(tdt, with_torch=False)
    loaded, loaded_torch = spacy_upos(tdt, with_torch=True)
    upos_same = hidden == loaded and hidden_torch is False and loaded_torch is True
    print({"tables_equal": tables_equal, "upos_same": upos_same}, flush=True)

    warm, timed = skn_blocks(args.skn)
    after = speed(ROOT, warm, timed)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(f"git archive {args.before} | tar -x -C {tmp}", shell=True, cwd=ROOT, check=True)
        before = speed(Path(tmp), warm, timed)
    tokens = sum(map(len, timed))
    print({"after": after, "before": before, "tokens": tokens}, flush=True)
    if not args.no_write:
        write_section("seq2seq", report(rows, tables_equal, upos_same, len(tdt), after, before, tokens, args.before))
    return 0 if all(r["diffs"] == 0 for r in rows) and tables_equal and upos_same else 1


def _stanza_compound_forms(trainer) -> dict[str, str]:
    forms: dict[str, str] = {}
    for entries in trainer.pos_dict.values():
        for lemma in entries.values():
            if lemma and "#" in lemma:
                forms.setdefault(lemma.replace("#", "").lower(), lemma)
    return forms


def _stanza_training_lemmas(trainer) -> dict[str, str]:
    forms: dict[str, str] = {}
    for entries in trainer.pos_dict.values():
        for lemma in entries.values():
            if lemma:
                key = lemma.replace("#", "")
                if "#" in lemma or key not in forms:
                    forms[key] = lemma
    return forms


def report(rows, tables_equal, upos_same, sentences, after, before, tokens, rev) -> str:
    lines = [
        "## Lemmatising without torch: the numpy seq2seq (`bench/seq2seq.py`)",
        "",
        "koodari's own lemmatizer and dialect model run in numpy (`koodari/nlp/seq2seq.py`, from the `.npz` files"
        " `models/export_seq2seq.py` writes), spaCy is imported with torch hidden, so analysing with koodari's models"
        " (pretokenized text; stanza's tokenizer is another branch's) loads neither torch nor stanza. Same lemmas:"
        " numpy against stanza's pipeline over the checkpoint, every distinct pair; CPU seconds of each on the same"
        " pairs, models loaded.",
        "",
        "| words | lemmatizer | pairs | through the seq2seq | differences | stanza CPU s | numpy CPU s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['set']} | {r['mode']} | {r['pairs']:,} | {r['seq2seq']:,} | {r['diffs']} |"
                     f" {r['stanza']:.2f} | {r['numpy']:.2f} |")
    lines += [
        "",
        f"The training-dictionary tables the pipeline derives (compound spellings, lemmas as written, which pairs"
        f" the dictionary knows) are {'identical' if tables_equal else 'NOT identical'}. spaCy's UPOS on TDT dev"
        f" ({sentences:,} sentences) with torch hidden is {'identical' if upos_same else 'NOT identical'} to a"
        " process that imported torch first.",
        "",
        f"Start-up and warm throughput, fresh processes, best of 2 (`FinnishPipeline()` and"
        f" `analyse_pretokenized([[\"Mä\", \"oon\", \"kotona\", \".\"]])`; then a 2,000-token warm-up and {tokens:,}"
        " SKN held-out dialect tokens pretokenized). Wall seconds swell with the other jobs on the shared cores; CPU"
        f" seconds are a quiet machine's wall time. Before: commit {rev}, exported and run in the same session.",
        "",
        "| measure | this commit | before |",
        "|---|---:|---:|",
        f"| start-up, wall / CPU s | {after['load']:.2f} / {after['load:cpu']:.2f} |"
        f" {before['load']:.2f} / {before['load:cpu']:.2f} |",
        f"| warm pretokenized, tokens/s wall / CPU | {tokens / after['warm']:,.0f} /"
        f" {tokens / after['warm:cpu']:,.0f} |"
        f" {tokens / before['warm']:,.0f} / {tokens / before['warm:cpu']:,.0f} |",
        f"| torch / stanza imported | {after['torch']} / {after['stanza']} | {before['torch']} / {before['stanza']} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
