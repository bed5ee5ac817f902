"""Fit the normaliser's learned reranker (``RERANK_WEIGHTS`` in koodari/nlp/normaliser.py) on SKN's development
pseudo-locations (run from the repository root).

    python models/fit_reranker.py [--skn ../shared/dialect-skn] [--ud ../shared/ud-finnish] [--write]

For each spoken form of the development groups that nothing but the reranker resolves, the forms that compete for
it (``Normaliser.rerank_options``: the location-split model's 10-best and the rules' rewrites, as
bench/normaliser.py builds them from the training groups only; that model never saw these words) and leaving it as
spoken are scored by a conditional logistic regression (softmax over one word's options, L2 on standardised
features, every token weighted) on ``Normaliser.rerank_features``. Words whose SKN reading is none of the options
teach nothing and are left out. It prints the cross-fitted development accuracy on those tokens (fitted on three
of the four development groups, scored on the fourth) next to the hand-set third pass's, then fits on all of them;
``--write`` puts the weights into koodari/nlp/normaliser.py. The held-out groups are never read. Needs scipy (the
``models`` extra); the normaliser itself only multiplies the weights.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))

from build_normaliser import location_groups, read_skn, write_resources  # noqa: E402
from export_seq2seq import export as export_seq2seq  # noqa: E402

from koodari.nlp.normaliser import RERANK_FEATURES, Normaliser  # noqa: E402

# trained by models/train_dialect_model.py --split locations (bench/normaliser.py trains it when missing)
LOCATION_MODEL = ROOT / "build" / "dialect-model-loc" / "skn-seq2seq.pt"
L2 = 1.0


def options_by_token(norm: Normaliser, dev, labels) -> tuple[Counter, dict]:
    """Tokens per (group, spoken form, SKN reading) among the forms the reranker decides; each form's options as
    (forms, feature matrix), leaving the word as spoken last."""
    words: list[str] = []
    norm._rerank = words.extend  # collect the words the normaliser hands to the reranker
    norm.normalise_sentences([[d for d, _ in u] for u in dev])
    del norm._rerank
    nbest, options = norm.rerank_options(sorted(set(words)))
    table = {}
    for word, found in options.items():
        forms, rows = norm.rerank_table(word, found, nbest.get(word, ()))
        table[word] = (forms, np.array(rows, dtype=float))
    tokens: Counter = Counter()
    for utterance, group in zip(dev, labels, strict=True):
        for dialect, standard in utterance:
            if dialect.lower() in table:
                tokens[(group, dialect.lower(), standard.lower())] += 1
    return tokens, table


def fit(tokens: Counter, table: dict) -> np.ndarray:
    """Weights of the conditional logistic regression (softmax over each word's options)."""
    from scipy.optimize import minimize

    data = [(table[w][1], table[w][0].index(s), n) for (_, w, s), n in tokens.items() if s in table[w][0]]
    stacked = np.concatenate([x for x, _, _ in data])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-9
    data = [((x - mean) / scale, y, n) for x, y, n in data]

    def loss(weights: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = L2 * weights @ weights, 2 * L2 * weights
        for x, y, n in data:
            s = x @ weights
            p = np.exp(s - s.max())
            p /= p.sum()
            value -= n * math.log(p[y] + 1e-300)
            grad = grad - n * (x[y] - p @ x)
        return value, grad

    return minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B").x / scale


def choose(weights: np.ndarray, forms: list[str], features: np.ndarray) -> str:
    return forms[int(np.argmax(features @ weights))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    parser.add_argument("--write", action="store_true", help="write the weights into koodari/nlp/normaliser.py")
    parser.add_argument("--model", type=Path, default=LOCATION_MODEL,
                        help="the location-split model whose n-best the reranker chooses among")
    parser.add_argument("--beam", type=int, help="the model's n-best size (default: the normaliser's)")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model} missing: python models/train_dialect_model.py --split locations")
    utterances = read_skn(args.skn / "skn3a-dev.norm")
    labels, dev_groups, held_out_groups = location_groups(utterances)
    train = [u for u, g in zip(utterances, labels, strict=True) if g not in dev_groups and g not in held_out_groups]
    dev = [(u, g) for u, g in zip(utterances, labels, strict=True) if g in dev_groups]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_resources(train, args.ud, folder, note="fit_reranker: training pseudo-locations only")
        shutil.copy(args.model, folder / LOCATION_MODEL.name)
        export_seq2seq(folder / LOCATION_MODEL.name)
        norm = Normaliser.load(folder)
        if args.beam:
            norm.beam_size = args.beam
        tokens, table = options_by_token(norm, [u for u, _ in dev], [g for _, g in dev])
        norm.rerank_learned, norm.beam_size = False, 5  # the third pass, for comparison
        norm.guesses.clear()
        hand_words = sorted({w for _, w, _ in tokens})
        norm._rerank(hand_words)
        hand = sum(n for (_, w, s), n in tokens.items() if (norm.guesses.get(w) or w) == s)
    total = sum(tokens.values())
    reachable = sum(n for (_, w, s), n in tokens.items() if s in table[w][0])
    right = 0
    for group in dev_groups:
        weights = fit(Counter({k: n for k, n in tokens.items() if k[0] != group}), table)
        right += sum(n for (g, w, s), n in tokens.items() if g == group and choose(weights, *table[w]) == s)
    weights = fit(tokens, table)
    fitted = sum(n for (_, w, s), n in tokens.items() if choose(weights, *table[w]) == s)
    print(f"development tokens the reranker decides: {total}; right: hand-set third pass {hand}, learned "
          f"cross-fitted over the {len(dev_groups)} groups {right}, learned fitted on all {fitted}; SKN's reading "
          f"among the options {reachable}")
    for name, weight in zip(RERANK_FEATURES, weights, strict=True):
        print(f"  {name:24s} {weight:+.4f}")
    values = [f"{w:.4f}" for w in weights]
    rows = [f"    {', '.join(values[i:i + 8])},\n" for i in range(0, len(values), 8)]
    line = "RERANK_WEIGHTS = (\n" + "".join(rows) + ")"
    if args.write:
        path = ROOT / "koodari" / "nlp" / "normaliser.py"
        text = path.read_text(encoding="utf-8")
        text, n = re.subn(r"^RERANK_WEIGHTS = \(.*?\)$", line, text, count=1, flags=re.M | re.S)
        if n != 1:
            raise SystemExit(f"no RERANK_WEIGHTS line in {path}")
        path.write_text(text, encoding="utf-8")
        print(f"written into {path}")
    else:
        print(line)


if __name__ == "__main__":
    main()
