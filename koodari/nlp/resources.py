"""Loading the normaliser's shipped resources (models/normaliser/)."""

from __future__ import annotations

import csv
import functools
import gzip
from pathlib import Path
from typing import Any

from koodari.errors import KoodariError
from koodari.nlp.dictionary import finnish_dictionary

PACKAGE_DIR = Path(__file__).resolve().parent.parent

LEXICON = "skn-lexicon.tsv"
COLLOQUIAL = "colloquial.tsv"
STANDARD = "standard-vocabulary.txt.gz"
SUFFIX_RULES = "suffix-rules.tsv"
FREQUENCY = "standard-frequency.tsv"
CONTEXT = "skn-context.tsv"
ENGLISH = "english-words.txt.gz"  # optional: common English words a speaker may say as they are


def shipped_dir(name: str) -> Path:
    """Where a shipped resource folder (`corpora`, `models`) lives: inside a wheel or in the checkout."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise KoodariError(f"koodari's '{name}' folder is missing from this installation", PACKAGE_DIR)


def stanza_dir() -> Path:
    """koodari's own stanza models."""
    return shipped_dir("models") / "stanza"


def normaliser_dir() -> Path:
    return shipped_dir("models") / "normaliser"


def read_pairs(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        return {row[0]: row[1] for row in rows if len(row) >= 2 and not row[0].startswith("#")}


def load_normaliser_resources(folder: Path | None = None, use_simplemma: bool = True) -> dict[str, Any]:
    """The normaliser's resources as ``Normaliser``'s keyword arguments (all but the learned model)."""
    folder = folder or normaliser_dir()
    for name in (LEXICON, COLLOQUIAL, STANDARD, SUFFIX_RULES, FREQUENCY, CONTEXT):
        if not (folder / name).is_file():
            raise KoodariError(
                f"normaliser resource {name} is missing (build it with models/build_normaliser.py)", folder / name
            )
    lexicon, counts, spoken = {}, {}, {}
    with (folder / LEXICON).open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) in (3, 4) and not row[0].startswith("#"):
                lexicon[row[0]], counts[row[0]] = row[1], int(row[2])
                spoken[row[0]] = int(row[3]) if len(row) == 4 else int(row[2])
    # the hand-written list fills gaps; where SKN observed a word, the observed pair stands unless the
    # hand-written row says `override` (a Savo/Kainuu reading that SKN's other dialects contradict)
    with (folder / COLLOQUIAL).open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            wanted = len(row) >= 2 and not row[0].startswith("#")
            if wanted and (row[0] not in lexicon or row[2:3] == ["override"]):
                lexicon[row[0]], counts[row[0]], spoken[row[0]] = row[1], 100, 100
    standard = _word_set(folder / STANDARD)  # no comment lines: `#hashtag` is a standard form
    english = _word_set(folder / ENGLISH, header=True) if (folder / ENGLISH).is_file() else frozenset()
    rules = []
    with (folder / SUFFIX_RULES).open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if row and not row[0].startswith("#"):
                rules.append((row[0], row[1], float(row[2])))
    context: dict[tuple[str, str, str], str] = {}
    with (folder / CONTEXT).open(encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) == 5 and not row[0].startswith("#"):
                context[(row[0], row[1], row[2])] = row[3]
    frequency = {word: int(n) for word, n in read_pairs(folder / FREQUENCY).items()}
    if use_simplemma:
        dictionary = finnish_dictionary()

        @functools.lru_cache(maxsize=1 << 16)
        def known(word: str) -> bool:
            return word in standard or dictionary.is_known(word)
    else:

        def known(word: str) -> bool:
            return word in standard

    return {"lexicon": lexicon, "lexicon_counts": counts, "spoken_counts": spoken, "standard": standard, "known": known,
            "suffix_rules": rules, "frequency": frequency, "context": context, "english": english}


def _word_set(path: Path, header: bool = False) -> frozenset[str]:
    """The words of a gzipped list, one a line (with ``header``, its first line is a comment)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        if header:
            next(fh, None)
        return frozenset(w for line in fh if (w := line.strip()))
