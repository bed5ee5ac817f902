"""Simulated review on the seed study, written to BENCHMARKS.md.

    python bench/review.py [--retrain-every 20]

The thesis's own codes play the coder: the 138 quotes come in document order (their order in the
thesis), each is shown with the suggestions of the current model (ranked within its question), the
"coder" takes the thesis's code, and the model retrains every N decisions, as `koodari review` does.
Keystrokes: Enter for suggestion 1; one digit for suggestions 2–9; otherwise a tree search
(`/`, about 8 letters, Enter, a digit, Enter = 12 keys). Coding with no suggestions means a search for
every unit. Category descriptions count, less the sentences that paraphrase or introduce a quote.
Screen update: time from a key to the next unit on screen (view, suggestions, rich render),
measured with ReviewSession on the demo study: after a reading pause (the session's background thread has
embedded the next units for the sentence encoder meanwhile; the pause is not timed) and with keys back to back.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402

from bench._report import seed_study, write_section  # noqa: E402
from bench.suggest import quote_paraphrases  # noqa: E402
from koodari import app as actions  # noqa: E402
from koodari import classify  # noqa: E402
from koodari.classify import SuggestionModel  # noqa: E402
from koodari.review_tui import render  # noqa: E402
from koodari.suggest import rank  # noqa: E402

SEARCH_KEYS = 12


def simulate(retrain_every: int, blocks: str = "both", analysed: str | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp())
    study = seed_study(tmp / "sim.koodari", analysed)
    data = actions.training_data(study)
    examples, always, tree = data.examples, data.always, data.tree
    # no description sentence that paraphrases or introduces a quote: the quotes are what is being coded
    linked = set().union(*quote_paraphrases("kainuu-2012").values())
    always = [e for e in always if e.text not in linked]
    quotes = sorted((e for e in examples if e.unit and e.unit.startswith("Q")), key=lambda e: int(e.unit[1:]))
    coded = [e for e in examples if e not in quotes]
    study.close()
    model = SuggestionModel.fit(coded, always, blocks=blocks)
    questions = np.array([tree.categories[int(c)].question_id for c in model.classes])
    first = top3 = top9 = keys = 0
    since = 0
    for example in quotes:
        level = tree.categories[example.label].level
        p = model.predict_proba([example.doc])[0]
        ranked = [c for c, _ in rank(p, model.classes, questions, tree, example.question_id, level)]
        position = ranked.index(example.label) + 1 if example.label in ranked else None
        first += position == 1
        top3 += position is not None and position <= 3
        top9 += position is not None and position <= 9
        keys += 1 if position is not None and position <= 9 else SEARCH_KEYS
        coded.append(example)
        since += 1
        if since >= retrain_every:
            model = SuggestionModel.fit(coded, always, blocks=blocks)
            questions = np.array([tree.categories[int(c)].question_id for c in model.classes])
            since = 0
    n = len(quotes)
    return {"n": n, "first": first / n, "top3": top3 / n, "top9": top9 / n, "keys": keys / n}


def screen_updates(pause: bool = True) -> list[float]:
    """Milliseconds from a key to the next unit rendered; ``pause``: the coder reads each unit until the
    background embedding of the next units is done (untimed), else the keys come back to back."""
    path = actions.build_demo_study(Path(tempfile.mkdtemp()))
    timings = []
    with actions.open_study(path) as study:
        session = actions.review_session(study, "bench", background=False, retrain_every=10_000)
        console = Console(file=io.StringIO(), width=120)
        unit = session.next_unit()
        render(console, session, unit)
        while unit is not None:
            if pause:
                session.wait_for_prefetch()
            start = time.perf_counter()
            session.accept(unit, 1)  # the key
            unit = session.next_unit()
            if unit is not None:
                render(console, session, unit)
                timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retrain-every", type=int, default=20)
    parser.add_argument("--analysed", help="start from a copy of this already analysed seed study")
    args = parser.parse_args()
    lexical = simulate(args.retrain_every, "lexical", args.analysed)
    result = simulate(args.retrain_every, "both", args.analysed)
    timings = screen_updates()
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    timings_keys = screen_updates(pause=False)
    cpu_keys = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu
    classify.SENTENCES = False  # the model before the sentence encoder, same run
    try:
        before = simulate(args.retrain_every, "both", args.analysed)
        timings_before = screen_updates()
    finally:
        classify.SENTENCES = True
    lines = [
        "## Simulated review on the seed study (issue 5)",
        "",
        f"{result['n']} thesis quotes in document order, coded with the thesis's own codes at their coded level "
        f"(subcategory, or upper category where the thesis names none), retraining every {args.retrain_every}"
        " decisions, starting from the category names and descriptions (less the sentences that paraphrase a quote)"
        " and the 6 example reductions.",
        "",
        "| | with suggestions (words + meaning + sentence encoder, kept) | words + meaning (before the sentence"
        " encoder) | words only (before word vectors) | without suggestions |",
        "|---|---:|---:|---:|---:|",
        f"| first suggestion accepted (Enter) | {result['first']:.1%} | {before['first']:.1%} | {lexical['first']:.1%}"
        " | – |",
        f"| code among the top 3 | {result['top3']:.1%} | {before['top3']:.1%} | {lexical['top3']:.1%} | – |",
        f"| code among the 9 shown (one key) | {result['top9']:.1%} | {before['top9']:.1%} | {lexical['top9']:.1%}"
        " | – |",
        f"| keystrokes per unit | {result['keys']:.2f} | {before['keys']:.2f} | {lexical['keys']:.2f} | "
        f"{SEARCH_KEYS:.2f} (a search every time) |",
        "",
        f"Screen update after a key (record the decision, pick the next unit, suggest, render): median "
        f"{statistics.median(timings):.1f} ms, max {max(timings):.1f} ms over {len(timings)} units of the demo "
        f"transcript with the sentence encoder, each unit embedded ahead by the review's background thread while"
        f" the coder reads (the pause not timed); {statistics.median(timings_keys):.1f} ms, max"
        f" {max(timings_keys):.1f} ms with keys back to back (the thread embeds one unit per key, 8 ahead;"
        f" {cpu_keys:.1f} CPU s for that whole session, its start-up and training included);"
        f" {statistics.median(timings_before):.1f} ms, max {max(timings_before):.1f} ms without the encoder, same"
        f" run (target < 50 ms). Load average {os.getloadavg()[0]:.1f} at the end of the run (shared cores).",
    ]
    write_section("review", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
