"""Suggestion quality and speed on the seed study (kainuu-2012), written to BENCHMARKS.md.

    python bench/suggest.py [--folds 10]

The thesis quotes are coded by cross-validation: each fold's quotes are held out, a model is trained
on the category tree (names) + the other quotes + the example reductions, and the held-out quote is
ranked within its own research question. Baseline, measured in the same run: TF-IDF character
n-grams of the raw text matched to the category names and the other quotes (best cosine per category).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section  # noqa: E402
from koodari.classify import SuggestionModel, doc_from_tokens  # noqa: E402
from koodari.corpus import load_corpus  # noqa: E402
from koodari.nlp.pipeline import FinnishPipeline  # noqa: E402
from koodari.store import Study  # noqa: E402
from koodari.suggest import Suggester, Tree, attach_tokens, category_examples, coded_examples, rank  # noqa: E402

LEVELS = ("sub", "upper")


def baseline_rank(train, test, always, tree: Tree, level: str):
    """Raw-text char n-gram TF-IDF nearest match to category names and the other quotes."""
    docs = [e.text for e in always] + [e.text for e in train]
    labels = [e.label for e in always] + [e.label for e in train]
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit(docs + [e.text for e in test])
    sims = (vec.transform([e.text for e in test]) @ vec.transform(docs).T).toarray()
    out = []
    for i, example in enumerate(test):
        best: dict[int, float] = {}
        for j, label in enumerate(labels):
            if tree.categories[label].question_id != example.question_id:
                continue
            target = tree.ancestor(label, level)
            if target is not None:
                best[target] = max(best.get(target, 0.0), sims[i, j])
        out.append([c for c, _ in sorted(best.items(), key=lambda kv: -kv[1])])
    return out


def model_rank(train, test, always, tree: Tree, level: str, kind: str):
    model = SuggestionModel.fit(train, always, kind=kind, calibrate=False)
    questions = np.array([tree.categories[int(c)].question_id for c in model.classes])
    proba = model.predict_proba([doc_from_tokens(e.tokens or []) for e in test])
    return [[c for c, _ in rank(p, model.classes, questions, tree, e.question_id, level)]
            for e, p in zip(test, proba, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    study = Study.create(tmp / "bench.koodari")
    load_corpus(study, "kainuu-2012")
    pipeline = FinnishPipeline()
    tree = Tree(study)
    t0 = time.perf_counter()
    examples = attach_tokens(study, pipeline, coded_examples(study))
    always = attach_tokens(study, pipeline, category_examples(study))
    analyse_seconds = time.perf_counter() - t0
    quotes = [e for e in examples if e.unit and e.unit.startswith("Q")]
    others = [e for e in examples if not (e.unit and e.unit.startswith("Q"))]
    systems = {"baseline (raw char n-grams)": None, "linear (SVM + temperature)": "linear",
               "neighbours (cosine k-NN)": "neighbours"}
    hits = {(s, lvl): [0, 0, 0] for s in systems for lvl in LEVELS}  # top1, top3, n
    for train_idx, test_idx in KFold(args.folds, shuffle=True, random_state=0).split(quotes):
        train = [quotes[i] for i in train_idx] + others
        test = [quotes[i] for i in test_idx]
        for system, kind in systems.items():
            for level in LEVELS:
                ranked = (baseline_rank(train, test, always, tree, level) if kind is None
                          else model_rank(train, test, always, tree, level, kind))
                for example, r in zip(test, ranked, strict=True):
                    gold = tree.ancestor(example.label, level)
                    if gold is None:
                        continue
                    h = hits[(system, level)]
                    h[0] += bool(r) and r[0] == gold
                    h[1] += gold in r[:3]
                    h[2] += 1

    # speed: training on everything, suggesting per utterance with the model loaded
    timings = {}
    for kind in ("linear", "neighbours"):
        start = time.perf_counter()
        SuggestionModel.fit(examples, always, kind=kind)
        timings[kind] = time.perf_counter() - start
    # a larger synthetic training set: every example repeated 20 times (≈3,000 reductions)
    big = [e for _ in range(20) for e in examples]
    big_seconds = {}
    for kind in ("linear", "neighbours"):
        start = time.perf_counter()
        SuggestionModel.fit(big, always, kind=kind)
        big_seconds[kind] = time.perf_counter() - start
    from koodari.suggest import train as train_version

    train_version(study, pipeline)
    suggester = Suggester(study, pipeline)
    texts = [e.text for e in quotes[:40]]
    docs = [doc_from_tokens(e.tokens or []) for e in quotes[:40]]
    per_doc, per_text = [], []
    for doc, text in zip(docs, texts, strict=True):
        start = time.perf_counter()
        suggester.suggest_docs([doc], [None], top=5)
        per_doc.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        suggester.suggest_docs(suggester.docs_for_texts([text]), [None], top=5)
        per_text.append((time.perf_counter() - start) * 1000)
    study.close()

    lines = [
        "## Suggestions on the seed study (issue 4)",
        "",
        f"{len(quotes)} thesis quotes coded by {args.folds}-fold cross-validation; each held-out quote is ranked "
        "within its own research question's tree. Training data per fold: the category names of all 15 trees, "
        f"the other quotes and the {len(others)} example reductions.",
        "",
        "| system | sub top-1 | sub top-3 | upper top-1 | upper top-3 |",
        "|---|---:|---:|---:|---:|",
    ]
    for system in systems:
        cells = []
        for level in LEVELS:
            t1, t3, n = hits[(system, level)]
            cells += [f"{t1 / n:.1%}", f"{t3 / n:.1%}"]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    n_sub, n_up = hits[(next(iter(systems)), "sub")][2], hits[(next(iter(systems)), "upper")][2]
    lines += [
        "",
        f"n = {n_sub} quotes with a subcategory, {n_up} with an upper category. Targets: upper top-3 ≥ 80 %, "
        "sub top-3 ≥ 65 %.",
        "",
        "| speed | value |",
        "|---|---:|",
        f"| analyse (normalise + lemmatise) {len(examples) + len(always)} training texts, cold cache | "
        f"{analyse_seconds:.1f} s |",
        f"| train linear on {len(examples)} examples + {len(always)} category names (with calibration) | "
        f"{timings['linear']:.2f} s |",
        f"| train neighbours, same data | {timings['neighbours']:.2f} s |",
        f"| train linear on {len(big)} examples (the corpus ×20, ≈ the thesis's 2,328 reductions) | "
        f"{big_seconds['linear']:.2f} s |",
        f"| train neighbours on the same {len(big)} examples | {big_seconds['neighbours']:.2f} s |",
        f"| suggest one analysed unit (model loaded; median of 40) | {statistics.median(per_doc):.1f} ms |",
        f"| suggest one raw utterance incl. stanza analysis (median of 40) | {statistics.median(per_text):.1f} ms |",
    ]
    write_section("suggest", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
