"""The suggestions' development protocol (no seed quote scored), written to BENCHMARKS.md.

    python bench/suggest_dev.py [--folds 5]

Designs of the suggestion model are chosen here, never on the seed quotes that ``bench/suggest.py`` scores
(issue 12's rule). The queries are the thesis's description sentences of its categories, less those that
paraphrase or introduce a quote (those belong to the quotes' protocol): each fold's sentences are held out of
the evidence and ranked within their research question's tree by a model trained as ``koodari train`` does on
the rest (category names, the other sentences, all coded quotes and example reductions). Prose is easier than
speech (sub top-3 ≈ 90 %), so top-1 and the mean reciprocal rank are the figures that separate designs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section  # noqa: E402
from bench.suggest import quote_paraphrases  # noqa: E402
from koodari import app as actions  # noqa: E402
from koodari.classify import SuggestionModel  # noqa: E402
from koodari.suggest import rank  # noqa: E402

LEVELS = ("sub", "upper")
SYSTEMS = {
    "words + meaning + hierarchy + compound parts (the model before the sentence encoder)": {"sentences": False},
    "**the same + the sentence encoder's four scores (names, descriptions, coded examples, all), kept**":
        {"sentences": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    actions.create_study(tmp / "dev.koodari", "kainuu-2012")
    data = actions.training_data(actions.open_study(tmp / "dev.koodari"))
    examples, always, tree = data.examples, data.always, data.tree
    linked = set().union(*quote_paraphrases("kainuu-2012").values())
    queries = [e for e in always if e.source == "description" and e.text not in linked]
    stats = {s: {lvl: [0, 0, 0.0, 0] for lvl in LEVELS} for s in SYSTEMS}  # top1, top3, reciprocal rank, n
    seconds = {s: 0.0 for s in SYSTEMS}
    for _, test_idx in KFold(args.folds, shuffle=True, random_state=1).split(queries):
        test = [queries[i] for i in test_idx]
        held = {e.text for e in test}
        evidence = [e for e in always if e.text not in held]
        for system, params in SYSTEMS.items():
            start = time.perf_counter()
            model = SuggestionModel.fit(examples, evidence, compounds=True, **params)
            seconds[system] += time.perf_counter() - start
            questions = np.array([tree.categories[int(c)].question_id for c in model.classes])
            proba = model.predict_proba([e.doc for e in test])
            for example, p in zip(test, proba, strict=True):
                for level in LEVELS:
                    gold = tree.ancestor(example.label, level)
                    if gold is None:
                        continue
                    ranked = [c for c, _ in rank(p, model.classes, questions, tree, example.question_id, level)]
                    s = stats[system][level]
                    s[0] += ranked[:1] == [gold]
                    s[1] += gold in ranked[:3]
                    s[2] += 1 / (ranked.index(gold) + 1) if gold in ranked else 0.0
                    s[3] += 1
    n = {lvl: next(iter(stats.values()))[lvl][3] for lvl in LEVELS}
    lines = [
        "## Suggestions: the development protocol (issue 12; no seed quote scored)",
        "",
        f"{len(queries)} description sentences of the seed study's categories (those that paraphrase or introduce"
        f" a quote left out), {args.folds}-fold: each fold's sentences are held out of the evidence and ranked within"
        " their question's tree by a model trained on the rest (names, other sentences, all 138 quotes and the"
        " example reductions), as `koodari train` fits it. Designs are chosen on this protocol, not on the quotes"
        " `bench/suggest.py` scores.",
        "",
        "| system | sub top-1 | sub top-3 | sub MRR | upper top-1 | upper top-3 | upper MRR | train (mean of folds) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system in SYSTEMS:
        cells = []
        for level in LEVELS:
            top1, top3, rr, count = stats[system][level]
            cells += [f"{top1 / count:.1%}", f"{top3 / count:.1%}", f"{rr / count:.3f}"]
        lines.append(f"| {system} | {' | '.join(cells)} | {seconds[system] / args.folds:.1f} s |")
    lines += ["", f"n = {n['sub']} sentences of a subcategory, {n['upper']} with an upper category. Training times"
              " include embedding new evidence texts (the first fold embeds them all)."]
    write_section("suggest_dev", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
