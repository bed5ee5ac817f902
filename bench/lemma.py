"""Lemmatisation and dialect-normalisation benchmark, written to BENCHMARKS.md.

    python bench/lemma.py [--ud ../shared/ud-finnish] [--skn ../shared/dialect-skn]

* UD Finnish-TDT *test* (never trained or tuned on): lemma accuracy with gold tokenisation (with and
  without the `#` compound boundary), UPOS accuracy, tokenizer token and sentence F1, end-to-end
  throughput on raw text with a cold cache; simplemma (a dictionary lemmatiser) in the same run.
* SKN held-out utterances (index % 5 == 4, never in the normaliser's resources): token accuracy of
  the normalised form against the standard form, against leaving every token as spoken.
* The seed study's quotes: tokens the normaliser changes, and lemmas before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))

from build_normaliser import read_skn, split_skn  # noqa: E402

from bench._report import write_section  # noqa: E402
from koodari.nlp.pipeline import FinnishPipeline  # noqa: E402


def read_conllu(path: Path) -> list[dict]:
    sentences, current, text = [], [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# text = "):
            text = line[len("# text = "):]
        elif not line.strip():
            if current:
                sentences.append({"text": text, "words": current["words"], "tokens": current["tokens"]})
            current, text = [], None
        elif not line.startswith("#"):
            cols = line.split("\t")
            if not current:
                current = {"words": [], "tokens": [], "skip": set()}
            if "-" in cols[0]:
                start, end = map(int, cols[0].split("-"))
                current["tokens"].append(cols[1])
                current["skip"].update(range(start, end + 1))
            elif cols[0].isdigit():
                current["words"].append((cols[1], cols[2], cols[3]))
                if int(cols[0]) not in current["skip"]:
                    current["tokens"].append(cols[1])
    if current:
        sentences.append({"text": text, "words": current["words"], "tokens": current["tokens"]})
    return sentences


def spans(text: str, tokens: list[str], offset: int = 0) -> list[tuple[int, int]]:
    out, pos = [], 0
    for token in tokens:
        found = text.find(token, pos)
        if found < 0:
            continue
        out.append((offset + found, offset + found + len(token)))
        pos = found + len(token)
    return out


def f1(gold: set, predicted: set) -> float:
    if not gold or not predicted:
        return 0.0
    tp = len(gold & predicted)
    p, r = tp / len(predicted), tp / len(gold)
    return 2 * p * r / (p + r) if p + r else 0.0


def lemma_scores(sentences: list[dict], predicted: list[list[tuple[str, str]]]) -> dict[str, float]:
    total = exact = plain = upos = 0
    for sentence, pred in zip(sentences, predicted, strict=True):
        for (_form, gold_lemma, gold_upos), (lemma, tag) in zip(sentence["words"], pred, strict=True):
            total += 1
            exact += lemma == gold_lemma
            plain += lemma.replace("#", "").lower() == gold_lemma.replace("#", "").lower()
            upos += tag == gold_upos
    return {"exact": exact / total, "plain": plain / total, "upos": upos / total, "n": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    args = parser.parse_args()
    test = read_conllu(args.ud / "fi_tdt-ud-test.conllu")
    words = [[w for w, _, _ in s["words"]] for s in test]
    threads = os.environ.get("OMP_NUM_THREADS", "torch default")

    pipeline = FinnishPipeline()
    plain_pipeline = FinnishPipeline(normalise=False)
    stanza_only = FinnishPipeline(normalise=False, dictionary_backoff=False)
    for pipe in (pipeline, plain_pipeline, stanza_only):
        pipe.analyse("Lämmittely.")  # load the models before timing

    results = {}
    runs = (("koodari (normaliser + stanza + dictionary back-off)", pipeline),
            ("koodari without the normaliser", plain_pipeline),
            ("koodari's stanza models alone (no back-off)", stanza_only))
    for name, pipe in runs:
        start = time.perf_counter()
        tagged = pipe.analyse_pretokenized(words)
        seconds = time.perf_counter() - start
        pred = [[(t.lemma, t.upos) for t in s] for s in tagged]
        results[name] = {**lemma_scores(test, pred), "seconds": seconds}

    import simplemma

    start = time.perf_counter()
    pred = [[(simplemma.lemmatize(w, lang="fi"), "") for w in s] for s in words]
    simple_seconds = time.perf_counter() - start
    results["simplemma (baseline)"] = {**lemma_scores(test, pred), "seconds": simple_seconds}

    # tokenizer F1 on the raw sentence texts, joined into one text
    text_parts, gold_tokens, gold_sents, offset = [], set(), set(), 0
    for s in test:
        gold_tokens.update(spans(s["text"], s["tokens"], offset))
        gold_sents.add((offset, offset + len(s["text"])))
        text_parts.append(s["text"])
        offset += len(s["text"]) + 1
    raw = " ".join(text_parts)
    cold = FinnishPipeline()  # a fresh pipeline: the normaliser's memo is empty (cold cache)
    cold.analyse("Lämmittely.")
    from koodari.nlp.normaliser import _normalise_cached

    _normalise_cached.cache_clear()
    start = time.perf_counter()
    analysed = cold.analyse(raw)
    e2e_seconds = time.perf_counter() - start
    pred_tokens = {(t.start, t.end) for s in analysed for t in s}
    pred_sents = {(s[0].start, s[-1].end) for s in analysed if s}
    n_tokens = sum(len(s) for s in analysed)
    token_f1, sent_f1 = f1(gold_tokens, pred_tokens), f1(gold_sents, pred_sents)

    # dialect: SKN held-out
    _, held_out = split_skn(read_skn(args.skn / "skn3a-dev.norm"))
    norm = pipeline.normaliser
    total = identity = correct = 0
    start = time.perf_counter()
    for utterance in held_out:
        spoken = [d for d, _ in utterance]
        for (dialect, standard), guess in zip(utterance, norm.normalise_tokens(spoken), strict=True):
            total += 1
            identity += dialect.lower() == standard.lower()
            correct += guess.lower() == standard.lower()
    norm_seconds = time.perf_counter() - start

    # the seed quotes: what changes, lemmas before/after
    quotes = [json.loads(line) for line in (ROOT / "corpora/kainuu-2012/quotes.jsonl").read_text().splitlines()]
    quote_tokens = [[t.text for t in s] for q in quotes for s in pipeline.analyse(q["text"])]
    with_norm = pipeline.analyse_pretokenized(quote_tokens)
    without = plain_pipeline.analyse_pretokenized(quote_tokens)
    changed = [(a, b) for sa, sb in zip(with_norm, without, strict=True) for a, b in zip(sa, sb, strict=True)
               if a.normalised != a.text]
    n_quote_tokens = sum(len(s) for s in quote_tokens)
    lemma_changed = [(a, b) for a, b in changed if a.lemma != b.lemma]
    examples = []
    for a, b in lemma_changed:
        if a.text.lower() not in {e[0].lower() for e in examples}:
            examples.append((a.text, b.lemma, a.normalised, a.lemma))
    tagged_features = [f for q in quotes for f in q["dialect_features"]]

    lines = [
        "## Lemmatisation and dialect normalisation (issue 3)",
        "",
        f"UD Finnish-TDT test: {results['simplemma (baseline)']['n']:,} words, gold tokenisation. "
        "`exact` compares lemmas as UD writes them (compound boundary `#` included, case kept); `plain` drops `#`"
        " and case. simplemma writes no `#`, so its `exact` is only for completeness. Threads: "
        f"{threads}.",
        "",
        "| lemmatiser | lemma exact | lemma plain | UPOS | words/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        upos = f"{r['upos']:.1%}" if name != "simplemma (baseline)" else "–"
        lines.append(f"| {name} | {r['exact']:.1%} | {r['plain']:.1%} | {upos} | {r['n'] / r['seconds']:,.0f} |")
    lines += [
        "",
        f"Tokenizer on the raw test text: token F1 {token_f1:.1%}, sentence F1 {sent_f1:.1%}. End to end (tokenise,"
        f" normalise, tag, lemmatise; cold normaliser cache): {n_tokens:,} tokens in {e2e_seconds:.1f} s ="
        f" **{n_tokens / e2e_seconds:,.0f} tokens/s**.",
        "",
        f"Dialect, SKN held-out ({len(held_out)} utterances, {total:,} tokens, never in the normaliser's resources):"
        f" leaving every token as spoken scores {identity / total:.1%}; koodari's normaliser **{correct / total:.1%}**"
        f" ({total / norm_seconds:,.0f} tokens/s).",
        "",
        f"Seed quotes ({len(quotes)} quotes, {n_quote_tokens:,} tokens): the normaliser changes {len(changed)} tokens"
        f" ({len(changed) / n_quote_tokens:.1%}); {len(lemma_changed)} of them get another lemma than without it. "
        f"The extraction tagged {len(tagged_features)} dialect tokens by hand (tests/test_normaliser.py checks them)."
        " Examples (spoken → lemma without normaliser → normalised → lemma):",
        "",
        "| spoken | lemma as spoken | normalised | lemma |",
        "|---|---|---|---|",
    ]
    for spoken, before, normalised, after in examples[:20]:
        lines.append(f"| {spoken} | {before} | {normalised} | {after} |")
    write_section("lemma", "\n".join(lines))
    print("\n".join(lines))
    print(json.dumps({k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in results.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
