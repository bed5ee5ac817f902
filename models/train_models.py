"""Train koodari's Finnish stanza models (tokenizer, POS tagger, lemmatizer) offline.

Training data: UD Finnish-TDT dev + UD Finnish-FTB dev and test (CC BY-SA 4.0).
UD Finnish-TDT *test* is never read here: it is the evaluation set (bench/lemma.py).

Usage (from the repository root):

    python models/train_models.py --ud ../shared/ud-finnish [--only tokenize,pos,lemma]

Every step calls stanza's own training code with fixed seeds; the trained files land in
models/stanza/. See models/README.md for the exact commands and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

TREEBANK = "UD_Finnish-Koodari"
SHORT = "fi_koodari"
TRAIN_SOURCES = ("fi_tdt-ud-dev.conllu", "fi_ftb-ud-dev.conllu", "fi_ftb-ud-test.conllu")
FORBIDDEN = "fi_tdt-ud-test.conllu"
SEED = 1234
DEV_EVERY = 10  # every 10th sentence of the combined data is held out for early stopping

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "models" / "stanza"


def read_sentences(path: Path) -> list[list[str]]:
    """Read a CoNLL-U file as a list of sentences, each a list of raw lines."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            current.append(line)
        elif current:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def compound_map(sentences: list[list[str]]) -> dict[str, str]:
    """Map plain lemmas to their TDT form with compound boundaries (`tyovalmentaja` -> `työ#valmentaja`)."""
    mapping: dict[str, str] = {}
    for sentence in sentences:
        for line in sentence:
            cols = line.split("\t")
            if len(cols) == 10 and "#" in cols[2] and cols[2] != "#":
                mapping.setdefault(cols[2].replace("#", ""), cols[2])
    return mapping


# FTB's lemmas where TDT writes another by convention (plural demonstratives, suppletive comparison)
TDT_LEMMAS = {
    ("PRON", "ne"): "se",
    ("PRON", "nämä"): "tämä",
    ("PRON", "nuo"): "tuo",
    ("ADJ", "parempi"): "hyvä",
    ("ADJ", "paras"): "hyvä",
    ("ADV", "paremmin"): "hyvin",
    ("ADV", "parhaiten"): "hyvin",
}
HYPHEN = re.compile(r"(?<=\w)-(?=\w)")


def harmonise_ftb(sentence: list[str], compounds: dict[str, str]) -> list[str]:
    """Bring an FTB sentence closer to TDT conventions.

    FTB writes proper-noun lemmas in lower case, has no `#` compound boundaries and another XPOS
    scheme. Proper nouns get their capital back, known compounds get TDT's boundary, XPOS is dropped.
    Since issue 13 also: `ne`/`nämä`/`nuo` → `se`/`tämä`/`tuo`, `paras`/`parempi` → `hyvä` (TDT_LEMMAS), and
    a hyphen inside a noun's or adjective's lemma becomes TDT's `#` (a leading one is dropped).
    """
    out = []
    for line in sentence:
        cols = line.split("\t")
        if len(cols) != 10 or not cols[0].isdigit():
            out.append(line)
            continue
        form, lemma, upos = cols[1], cols[2], cols[3]
        if upos == "PROPN" and form[:1].isupper() and lemma[:1].islower():
            lemma = lemma[:1].upper() + lemma[1:]
        lemma = compounds.get(lemma, lemma)
        lemma = TDT_LEMMAS.get((upos, lemma), lemma)
        if upos in ("NOUN", "ADJ") and len(lemma) > 1:
            # TDT: "28-vuotias" -> 28#vuotias, "-sarjassa" -> sarja; FTB keeps the hyphens
            lemma = HYPHEN.sub("#", lemma[1:] if lemma.startswith("-") and form.startswith("-") else lemma)
        cols[2] = lemma
        cols[4] = "_"
        out.append("\t".join(cols))
    return out


def drop_xpos(sentence: list[str]) -> list[str]:
    out = []
    for line in sentence:
        cols = line.split("\t")
        if len(cols) == 10 and cols[0].isdigit():
            cols[4] = "_"
            line = "\t".join(cols)
        out.append(line)
    return out


def write_conllu(path: Path, sentences: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\n".join(s) + "\n\n" for s in sentences), encoding="utf-8")


def prepare_treebank(ud_dir: Path, udbase: Path, split: str = "combined") -> dict[str, int]:
    """Lay out the training data as a UD treebank under UDBASE; returns sentence counts.

    split "combined": every 10th sentence of TDT dev + FTB is the development set (issue 3's models).
    split "tdt": only every 10th sentence of TDT dev is held out (the same TDT sentences the "combined"
    split held out, so old and new models are compared on text neither saw); all of FTB is trained on.
    """
    tdt = read_sentences(ud_dir / TRAIN_SOURCES[0])
    held = [i % DEV_EVERY == DEV_EVERY - 1 for i in range(len(tdt))]
    compounds = compound_map([s for s, h in zip(tdt, held, strict=True) if not h] if split == "tdt" else tdt)
    combined = [drop_xpos(s) for s in tdt]
    for name in TRAIN_SOURCES[1:]:
        combined += [harmonise_ftb(s, compounds) for s in read_sentences(ud_dir / name)]
    if split == "tdt":
        train = [s for i, s in enumerate(combined) if i >= len(tdt) or not held[i]]
        dev = [s for i, s in enumerate(combined) if i < len(tdt) and held[i]]
    else:
        train = [s for i, s in enumerate(combined) if i % DEV_EVERY != DEV_EVERY - 1]
        dev = [s for i, s in enumerate(combined) if i % DEV_EVERY == DEV_EVERY - 1]
    tb = udbase / TREEBANK
    write_conllu(tb / f"{SHORT}-ud-train.conllu", train)
    write_conllu(tb / f"{SHORT}-ud-dev.conllu", dev)
    # stanza's wrappers also score a "test" split after training; give them the dev split so that
    # the real evaluation set never enters the training directory.
    write_conllu(tb / f"{SHORT}-ud-test.conllu", dev)
    return {"train_sentences": len(train), "dev_sentences": len(dev)}


def run(cmd: list[str], env: dict[str, str], log: Path) -> float:
    print("$", " ".join(cmd), flush=True)
    start = time.monotonic()
    with log.open("a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        subprocess.run(cmd, env=env, check=True, stdout=fh, stderr=subprocess.STDOUT, cwd=env["KOODARI_WORK"])
    return time.monotonic() - start


STEPS = {
    "tokenize": [
        ["-m", "stanza.utils.datasets.prepare_tokenizer_treebank", TREEBANK],
        [
            "-m",
            "stanza.utils.training.run_tokenizer",
            TREEBANK,
            "--force",  # train even when a model of that name is already there
            "--no_charlm",
            "--steps",
            "4000",
            "--seed",
            str(SEED),
            "--save_dir",
            "{models}",
            "--save_name",
            f"{SHORT}_tokenizer.pt",
        ],
    ],
    "pos": [
        ["-m", "stanza.utils.datasets.prepare_pos_treebank", TREEBANK],
        [
            "-m",
            "stanza.utils.training.run_pos",
            TREEBANK,
            "--force",  # train even when a model of that name is already there
            "--no_charlm",
            "--no_pretrain",
            "--max_steps",
            "1500",
            "--batch_size",
            "100",
            "--hidden_dim",
            "150",
            "--char_hidden_dim",
            "200",
            "--deep_biaff_hidden_dim",
            "200",
            "--eval_interval",
            "100",
            "--fix_eval_interval",
            "--log_step",
            "10",
            "--seed",
            str(SEED),
            "--save_dir",
            "{models}",
            "--save_name",
            f"{SHORT}_tagger.pt",
        ],
    ],
    "lemma": [
        ["-m", "stanza.utils.datasets.prepare_lemma_treebank", TREEBANK, "--gold"],
        [
            "-m",
            "stanza.utils.training.run_lemma",
            TREEBANK,
            "--force",  # train even when a model of that name is already there
            "--no_charlm",
            "--seed",
            str(SEED),
            "--num_epoch",
            "{lemma_epochs}",
            "--batch_size",
            "100",
            "--save_dir",
            "{models}",
            "--save_name",
            f"{SHORT}_lemmatizer.pt",
        ],
    ],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "stanza-train")
    parser.add_argument("--only", default="tokenize,pos,lemma")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--split", choices=("combined", "tdt"), default="combined")
    parser.add_argument("--lemma-epochs", default="30")
    parser.add_argument("--save-dir", type=Path, default=MODEL_DIR, help="where the trained files land")
    parser.add_argument("--prepare-only", action="store_true", help="lay out the data, train nothing")
    args = parser.parse_args(argv)

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    udbase = work / "ud"
    counts = prepare_treebank(args.ud.resolve(), udbase, args.split)
    print(json.dumps(counts))
    resources = work / "stanza_resources"
    resources.mkdir(exist_ok=True)
    (resources / "resources.json").write_text("{}", encoding="utf-8")
    save_dir = args.save_dir.resolve()
    save_dir.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env.update(
        UDBASE=str(udbase),
        DATA_ROOT=str(work / "data"),
        STANZA_RESOURCES_DIR=str(resources),
        OMP_NUM_THREADS=args.threads,
        MKL_NUM_THREADS=args.threads,
        KOODARI_WORK=str(work),
        PYTHONHASHSEED="0",
    )
    timings = {}
    for step in args.only.split(","):
        log = work / f"{step}.log"
        log.write_text("", encoding="utf-8")
        elapsed = 0.0
        for template in STEPS[step][:1] if args.prepare_only else STEPS[step]:
            cmd = [sys.executable] + [
                part.replace("{models}", str(save_dir)).replace("{lemma_epochs}", args.lemma_epochs)
                for part in template
            ]
            elapsed += run(cmd, env, log)
        timings[step] = round(elapsed, 1)
        print(f"{step}: {elapsed:.0f} s", flush=True)
    (work / "timings.json").write_text(json.dumps(timings, indent=2), encoding="utf-8")
    # training leaves optimizer checkpoints beside the models: keep only the final files
    for extra in save_dir.glob("*checkpoint*"):
        extra.unlink()
    shutil.rmtree(work / "data" / "tmp", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
