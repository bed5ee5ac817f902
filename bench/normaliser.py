"""Dialect-normalisation benchmark by (pseudo-)recording location, written to BENCHMARKS.md.

    python bench/normaliser.py [--skn ../shared/dialect-skn] [--ud ../shared/ud-finnish]

* SKN (``skn3a-dev.norm``) carries no recording locations and its utterances are shuffled, so whole
  *pseudo-locations* are held out instead: utterances clustered into 20 dialect groups by their dialect
  markers (``models/build_normaliser.py: location_split``); a fixed random order of the groups gives the
  held-out groups (≥ 20 % of the tokens), the development groups (≥ 20 %) and the training groups (the rest).
* Every resource scored here comes from the training groups only: the lexicon, context table, suffix rules,
  frequencies and SKN's part of the standard vocabulary (``write_resources``), and the learned model
  (``models/train_dialect_model.py --split locations``, stopped on the development groups' unseen forms;
  trained here first when ``build/dialect-model-loc/skn-seq2seq.pt`` is missing).
* Design choices were made on the development groups; the held-out groups are scored in the same run and
  were not looked at while tuning. Each row: all tokens, seen / unseen spoken forms (in the training lexicon
  or not), and leaving every token as spoken (the identity baseline).
* Standard written Finnish: tokens the normaliser changes on UD Finnish-TDT *dev* (never test), with a standard
  vocabulary that leaves TDT dev's forms out; first-pass design against this one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))

from build_normaliser import location_split, read_skn, write_resources  # noqa: E402
from export_seq2seq import export as export_seq2seq  # noqa: E402

from bench._report import write_section  # noqa: E402
from koodari.nlp.normaliser import Normaliser, _normalise_cached  # noqa: E402

LOCATION_MODEL = ROOT / "build" / "dialect-model-loc" / "skn-seq2seq.pt"
FIRST_PASS = {"voikko": False, "dialect_rules": False, "guess_check": "known"}
VARIANTS: dict[str, tuple[dict, bool]] = {
    "first pass: lexicon + rules, no learned model": (FIRST_PASS, False),
    "first pass + learned model (checked by the standard vocabulary and simplemma)": (FIRST_PASS, True),
    "+ phonetic letters and open diphthongs (no Voikko, no learned model)": ({"voikko": False}, False),
    "+ Voikko checks readings and candidates (no learned model)": ({}, False),
    "**+ learned model, guesses checked by Voikko (shipped design)**": ({}, True),
    "+ learned model, every guess kept": ({"guess_check": "any"}, True),
}


TUNING = (
    "Looked at while tuning: the **development** rows only (token accuracy, seen / unseen), in separate runs of"
    " the same code. Kept: Voikko as the standard-form check; a Voikko-accepted spoken form rewritten only when"
    " SKN's speakers meant another word at least half the times they said it (+0.03 points); forms only"
    " simplemma knows treated as colloquial, rewritten up to rule cost 2.5 (+0.2); SKN's δ and ə spelt out"
    " (+0.5); the open diphthongs *ua*/*iä*/*yä*/*oa*/*eä* (+2.5 on unseen forms); Ostrobothnian *th* (+0.4 on"
    " unseen); rejected learned guesses repaired by rule rewrites where the rules found nothing (+0.09)."
    " Tried and dropped: a final-consonant"
    " rule (*pitkäm* → *pitkän*: −0.3), keeping unknown capitalised words as written (−0.4 on development,"
    " although it cut the TDT dev changes below from 218 to 177 without the learned model), a smoothed context"
    " model over the neighbouring words for ambiguous seen forms (+0.1, not worth a new resource), an *a*/*ä* +"
    " *i* rule and other frequency weights (±0.03), ignoring Voikko readings flagged `Ira` (it flags common"
    " forms such as *pitäisikin* too). The held-out rows were seen in four runs: a first final run (held-out"
    " 87.4 %, development 85.6 %); a re-run after a unit test (not the benchmark) showed repaired guesses"
    " overriding the rules (*tärkee* → *tärkeän*), the fix (repairs only fill in) checked on development only"
    " (85.63 % → 85.67 %); a run after two speed changes that leave every output as it was (held-out 87.5 %);"
    " and the run below, after a unit test showed *Mä oon* normalised to *Minä on*: the context table is now"
    " also read with the previous word's standard form (*minä* → *oon* = *olen*), development unchanged."
)


def score(norm: Normaliser, utterances: list[list[tuple[str, str]]]) -> dict:
    """Token accuracy of ``norm`` on the utterances: (tokens, right, right when left as spoken) per part."""
    _normalise_cached.cache_clear()
    norm.guesses.clear()
    norm.repaired.clear()
    counts = {k: [0, 0, 0] for k in ("all", "seen", "unseen")}
    start = time.perf_counter()
    guesses = norm.normalise_sentences([[d for d, _ in u] for u in utterances])
    seconds = time.perf_counter() - start
    for utterance, guessed in zip(utterances, guesses, strict=True):
        for (dialect, standard), guess in zip(utterance, guessed, strict=True):
            for key in ("all", "seen" if dialect.lower() in norm.lexicon else "unseen"):
                counts[key][0] += 1
                counts[key][1] += guess.lower() == standard.lower()
                counts[key][2] += dialect.lower() == standard.lower()
    return {**counts, "seconds": seconds}


def location_model(skn: Path) -> Path:
    """The learned model trained on the training groups only (trained now when missing: ≈ 15 min)."""
    if not LOCATION_MODEL.is_file():
        from train_dialect_model import main as train

        if train(["--skn", str(skn), "--split", "locations"]) != 0 or not LOCATION_MODEL.is_file():
            raise SystemExit("training the location-split model failed (see models/train_dialect_model.py)")
    return LOCATION_MODEL


def location_rows(skn: Path, ud: Path) -> tuple[list[tuple[str, str, dict]], dict[str, int]]:
    """Rows (variant, split, score) on the development and held-out groups; sizes of the three parts."""
    train, dev, held_out = location_split(read_skn(skn / "skn3a-dev.norm"))
    sizes = {name: sum(len(u) for u in part) for name, part in (("training", train), ("development", dev),
                                                                ("held-out", held_out))}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_resources(train, ud, folder, note="bench: training pseudo-locations only")
        shutil.copy(location_model(skn), folder / LOCATION_MODEL.name)
        export_seq2seq(folder / LOCATION_MODEL.name)  # koodari reads the numpy export
        for name, (settings, learned) in VARIANTS.items():
            norm = Normaliser.load(folder, learned=learned)
            for key, value in settings.items():
                setattr(norm, key, value)
            for split, part in (("development", dev), ("held-out", held_out)):
                rows.append((name, split, score(norm, part)))
    return rows, sizes


def tdt_changes(skn: Path, ud: Path) -> list[tuple[str, int, int, list[tuple[tuple[str, str], int]]]]:
    """Tokens of UD Finnish-TDT dev the normaliser changes: (design, changed, tokens, commonest changes).

    The shipped standard vocabulary holds TDT dev's word forms, so it would never change them; here it is built
    without them (UD forms from FTB only, lexicon from all of SKN, the shipped learned model), as new standard
    text meets it."""
    sentences, current = [], []
    for line in (ud / "fi_tdt-ud-dev.conllu").read_text(encoding="utf-8").splitlines():
        cols = line.split("\t")
        if len(cols) == 10 and cols[0].isdigit():
            current.append(cols[1])
        elif not line.strip() and current:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_resources(read_skn(skn / "skn3a-dev.norm"), ud, folder, note="bench: TDT dev forms left out",
                        ud_files=("fi_ftb-ud-dev.conllu", "fi_ftb-ud-test.conllu"))
        shutil.copy(ROOT / "models" / "normaliser" / LOCATION_MODEL.name, folder / LOCATION_MODEL.name)
        export_seq2seq(folder / LOCATION_MODEL.name)
        for name, settings in (("first pass", FIRST_PASS), ("this pass (shipped design)", {})):
            norm = Normaliser.load(folder)
            for key, value in settings.items():
                setattr(norm, key, value)
            _normalise_cached.cache_clear()
            normalised = norm.normalise_sentences(sentences)
            changed = Counter((t, n) for s, ns in zip(sentences, normalised, strict=True)
                              for t, n in zip(s, ns, strict=True) if t != n)
            out.append((name, sum(changed.values()), sum(map(len, sentences)), changed.most_common(15)))
    return out


def location_table(rows: list[tuple[str, str, dict]]) -> list[str]:
    """The markdown table of normaliser rows (name, split, scores): all, seen, unseen, identity, speed."""

    def pct(part: list[int], i: int = 1) -> str:
        return f"{part[i] / max(1, part[0]):.1%}"

    lines = ["| normaliser | split | all | seen | unseen | unseen share | as spoken (all / unseen) | tokens/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, split, r in rows:
        a, s, u = r["all"], r["seen"], r["unseen"]
        lines.append(f"| {name} | {split} | {pct(a)} | {pct(s)} | {pct(u)} | {u[0] / a[0]:.1%} |"
                     f" {pct(a, 2)} / {pct(u, 2)} | {a[0] / r['seconds']:,.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    args = parser.parse_args()
    rows, sizes = location_rows(args.skn, args.ud)
    tdt = tdt_changes(args.skn, args.ud)
    lines = [
        "## Dialect normalisation by recording location (issue 13)",
        "",
        "SKN's file (`skn3a-dev.norm`, 72,759 tokens) names no recording locations and its utterances are"
        " shuffled, so whole *pseudo-locations* are held out: the utterances are clustered into 20 dialect"
        " groups by their dialect markers (TF-IDF of non-standard spoken words and character edits, SVD,"
        " k-means: the groups come out as dialect areas, e.g. *mie*/*sie*, *mää*/*sää*, *met*/*thi*, Savo's"
        " *aek*/*oes*), and whole groups are held out (`models/build_normaliser.py: location_split`, fixed seed)."
        f" Tokens: training {sizes['training']:,}, development {sizes['development']:,},"
        f" held-out {sizes['held-out']:,}. The lexicon, context table, suffix rules, frequencies, SKN's part of"
        " the standard vocabulary and the learned model come from the training groups only (the model stopped"
        " on the development groups' unseen forms). Every design choice of this pass was made on the"
        " **development** rows; the **held-out** rows were not looked at while tuning and are scored once, in"
        " this run. `seen` / `unseen`: the spoken form is / is not in the training lexicon;"
        " `as spoken`: leaving every token as it was said (the identity baseline).",
        "",
        *location_table(rows),
    ]
    lines += ["", TUNING]
    lines += [
        "",
        "Standard written Finnish (UD Finnish-TDT **dev**, never test): tokens the normaliser changes (every change"
        " of a standard text risks its lemma). The shipped standard vocabulary holds TDT dev's forms, so for this"
        " check it is rebuilt without them (UD forms from FTB only; lexicon from all of SKN; the shipped learned"
        " model), as unseen standard text meets the normaliser.",
        "",
        "| design | tokens changed | commonest changes |",
        "|---|---:|---|",
    ]
    for name, changed, total, common in tdt:
        shown = ", ".join(f"{a} → {b} ({n})" for (a, b), n in common)
        lines.append(f"| {name} | {changed} of {total:,} ({changed / total:.2%}) | {shown} |")
    write_section("normaliser", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
