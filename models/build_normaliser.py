"""Build the dialect normaliser's resources in models/normaliser/ (run from the repository root).

    python models/build_normaliser.py [--skn ../shared/dialect-skn] [--ud ../shared/ud-finnish]

* skn-lexicon.tsv: dialect → standard pairs observed in SKN (CC BY 4.0), from every utterance (the
  benchmark, bench/normaliser.py, builds its own copy from the training pseudo-locations only, see
  ``location_split``), with how often each spoken form was heard.
* skn-context.tsv: where a neighbouring spoken word decides the reading.
* suffix-rules.tsv: suffix rewrites learned from those pairs, with a cost from their reliability.
* standard-vocabulary.txt.gz: standard word forms: UD Finnish-TDT dev and -FTB dev/test forms
  (tokens marked Style=Coll left out; never TDT test), SKN's standard side, and the lemmas of simplemma's
  Finnish dictionary.
* general-frequency.tsv.gz: how common each Finnish word form is in general use: per line a Zipf level × 10 and
  wordfreq's forms with it (Zipf ≥ 1.5; wordfreq's data: CC BY-SA 4.0, from Wikipedia, subtitles, web text and
  more). The learned normaliser's candidates are weighed by it (``--general-frequency``; the one resource not
  learned from SKN, so the benchmark's copy is this file too).
* colloquial.tsv is hand-written and not touched here.
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "normaliser"
HOLDOUT_EVERY = 5
UD_TRAIN = ("fi_tdt-ud-dev.conllu", "fi_ftb-ud-dev.conllu", "fi_ftb-ud-test.conllu")


def read_skn(path: Path) -> list[list[tuple[str, str]]]:
    utterances, current = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            if current:
                utterances.append(current)
                current = []
            continue
        dialect, standard = line.split("\t")
        current.append((dialect.strip(), standard.strip()))
    if current:
        utterances.append(current)
    return utterances


def split_skn(utterances):
    train = [u for i, u in enumerate(utterances) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    held_out = [u for i, u in enumerate(utterances) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    return train, held_out


LOCATION_GROUPS = 20
LOCATION_SEED = 13


def _dialect_features(utterance: list[tuple[str, str]]) -> str:
    """An utterance's dialect markers: its non-standard spoken words and their character edits (`ee$>eä$`)."""
    features = []
    for dialect, standard in utterance:
        spoken, written = f"^{dialect.lower()}$", f"^{standard.lower()}$"
        if spoken == written:
            continue
        features.append("W:" + spoken[1:-1])
        matcher = difflib.SequenceMatcher(None, written, spoken, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op != "equal":
                features.append(f"E:{written[max(0, i1 - 1) : i2 + 1]}>{spoken[max(0, j1 - 1) : j2 + 1]}")
    return " ".join(f.replace(" ", "_") for f in features)


def pseudo_locations(utterances, groups: int = LOCATION_GROUPS) -> list[int]:
    """A dialect group per utterance, standing in for its recording location (SKN's file has none).

    Utterances are clustered by their dialect markers (TF-IDF of spoken words and character edits, 60-dimension
    SVD, k-means): the groups come out as dialect areas (*mie*/*sie*; *mää*/*sää*; *met*/*net* with *thi*;
    Savo's *aek*/*oes*), so holding a group out holds out a way of speaking, as a new location does."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    matrix = TfidfVectorizer(token_pattern=r"\S+", min_df=3, sublinear_tf=True).fit_transform(
        [_dialect_features(u) for u in utterances])
    reduced = normalize(TruncatedSVD(60, random_state=0).fit_transform(matrix))
    return [int(x) for x in KMeans(groups, random_state=0, n_init=10).fit(reduced).labels_]


def location_groups(utterances, share: float = 0.2) -> tuple[list[int], list[int], list[int]]:
    """Each utterance's pseudo-location, the development groups and the held-out groups: the groups in a fixed
    random order go to held-out until it has ``share`` of the tokens, then to development likewise; the rest
    train."""
    labels = pseudo_locations(utterances)
    groups = sorted(set(labels))
    random.Random(LOCATION_SEED).shuffle(groups)
    tokens = Counter()
    for utterance, label in zip(utterances, labels, strict=True):
        tokens[label] += len(utterance)
    total = sum(tokens.values())
    held_out: list[int] = []
    dev: list[int] = []
    for group in groups:
        if sum(tokens[g] for g in held_out) < share * total:
            held_out.append(group)
        elif sum(tokens[g] for g in dev) < share * total:
            dev.append(group)
    return labels, dev, held_out


def location_split(utterances, share: float = 0.2):
    """(training, development, held-out) utterances by pseudo-location (``location_groups``)."""
    labels, dev, held_out = location_groups(utterances, share)
    parts: tuple[list, list, list] = ([], [], [])
    for utterance, label in zip(utterances, labels, strict=True):
        parts[2 if label in held_out else 1 if label in dev else 0].append(utterance)
    return parts


def learn_lexicon(train) -> dict[str, tuple[str, int]]:
    counts = _pair_counts(train)
    return {d: c.most_common(1)[0] for d, c in counts.items()}


def _pair_counts(train) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for utterance in train:
        for dialect, standard in utterance:
            counts[dialect.lower()][standard.lower()] += 1
    return counts


def learn_context(
    train, lexicon: dict[str, tuple[str, int]], min_count: int = 2, min_share: float = 0.75
) -> list[tuple[str, str, str, str, int]]:
    """Pairs (previous or next spoken word, word) whose standard form differs from the word's usual one (sides
    ``prev``/``next``); and the same by standard forms (sides ``prevstd``/``nextstd``: the neighbour's standard
    form and the word's usual reading, so that *ennen ko*, *ennen ku* and *ennen kon* teach one row: after
    *ennen*, a word usually read *kun* is *kuin*)."""
    counts: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for utterance in train:
        words = [(d.lower(), s.lower()) for d, s in utterance]
        for i, (dialect, standard) in enumerate(words):
            usual = lexicon[dialect][0]
            if i > 0:
                counts[("prev", words[i - 1][0], dialect)][standard] += 1
                counts[("prevstd", words[i - 1][1], usual)][standard] += 1
            if i + 1 < len(words):
                counts[("next", words[i + 1][0], dialect)][standard] += 1
                counts[("nextstd", words[i + 1][1], usual)][standard] += 1
    rules = []
    for (side, context, dialect), c in counts.items():
        standard, n = c.most_common(1)[0]
        usual = dialect if side.endswith("std") else lexicon[dialect][0]
        if n >= min_count and n / sum(c.values()) >= min_share and standard != usual:
            rules.append((side, context, dialect, standard, n))
    return sorted(rules)


def learn_suffix_rules(
    lexicon: dict[str, tuple[str, int]], max_len: int = 5, min_count: int = 2, min_reliability: float = 0.02
) -> list[tuple[str, str, float]]:
    rule_counts: Counter = Counter()
    for dialect, (standard, _) in lexicon.items():
        if dialect == standard or " " in standard:
            continue
        p = 0
        while p < min(len(dialect), len(standard)) and dialect[p] == standard[p]:
            p += 1
        for context in (1, 2):
            start = max(0, p - context)
            src, dst = dialect[start:], standard[start:]
            if 0 < len(src) <= max_len and len(dialect) - len(src) >= 2:
                rule_counts[(src, dst)] += 1
    ending: Counter = Counter()
    sources = {src for src, _ in rule_counts}
    for dialect in lexicon:
        for k in range(1, max_len + 1):
            if dialect[-k:] in sources:
                ending[dialect[-k:]] += 1
    rules = []
    for (src, dst), n in rule_counts.items():
        reliability = n / max(1, ending[src])
        if n >= min_count and reliability >= min_reliability:
            rules.append((src, dst, round(1.0 + (1.0 - reliability), 3)))
    return sorted(rules, key=lambda r: (r[2], -len(r[0])))


def ud_forms(ud: Path, files: tuple[str, ...] = UD_TRAIN) -> set[str]:
    forms = set()
    for name in files:
        for line in (ud / name).read_text(encoding="utf-8").splitlines():
            cols = line.split("\t")
            if len(cols) == 10 and cols[0].isdigit() and "Style=Coll" not in cols[5]:
                forms.add(cols[1].lower())
    return forms


def simplemma_lemmas() -> set[str]:
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory

    return {v.lower() for v in set(DefaultDictionaryFactory().get_dictionary("fi").values())}


def write_resources(
    train, ud: Path, out: Path, note: str = "every utterance", ud_files: tuple[str, ...] = UD_TRAIN
) -> str:
    """Write the normaliser's learned resources for the given SKN utterances into OUT; returns a summary."""
    out.mkdir(parents=True, exist_ok=True)
    lexicon = learn_lexicon(train)
    totals = {d: sum(c.values()) for d, c in _pair_counts(train).items()}
    with (out / "skn-lexicon.tsv").open("w", encoding="utf-8") as fh:
        fh.write(
            "# dialect\tstandard\tcount\ttimes spoken — learned from SKN (Kotus / Kielipankki, CC BY 4.0) via"
            f" Kuparinen, Miletić & Scherrer (2023), split 3a dev, {note}\n"
        )
        for dialect in sorted(lexicon):
            standard, n = lexicon[dialect]
            fh.write(f"{dialect}\t{standard}\t{n}\t{totals[dialect]}\n")
    with (out / "skn-context.tsv").open("w", encoding="utf-8") as fh:
        fh.write("# side\tcontext word\tdialect\tstandard\tcount — SKN training part: where a neighbour decides\n")
        for row in learn_context(train, lexicon):
            fh.write("\t".join(map(str, row)) + "\n")
    rules = learn_suffix_rules(lexicon)
    with (out / "suffix-rules.tsv").open("w", encoding="utf-8") as fh:
        fh.write("# dialect suffix\tstandard suffix\tcost — learned from skn-lexicon.tsv\n")
        for src, dst, cost in rules:
            fh.write(f"{src}\t{dst}\t{cost}\n")
    frequency = Counter(w.lower() for u in train for _, s in u for w in s.split())
    with (out / "standard-frequency.tsv").open("w", encoding="utf-8") as fh:
        fh.write("# standard word\tcount in SKN's standard side (training part)\n")
        for word, n in sorted(frequency.items(), key=lambda x: (-x[1], x[0])):
            fh.write(f"{word}\t{n}\n")
    standard = ud_forms(ud, ud_files) | {s.lower() for u in train for _, s in u for s in s.split()} | simplemma_lemmas()
    with gzip.GzipFile(out / "standard-vocabulary.txt.gz", "wb", mtime=0) as gz:
        gz.write("\n".join(sorted(w for w in standard if w)).encode("utf-8") + b"\n")
    if out != OUT:  # the hand-written list and the general frequencies travel with every copy
        (out / "colloquial.tsv").write_text((OUT / "colloquial.tsv").read_text(encoding="utf-8"), encoding="utf-8")
        for name in (GENERAL_FREQUENCY, ENGLISH):
            if (OUT / name).is_file():
                (out / name).write_bytes((OUT / name).read_bytes())
    return f"lexicon {len(lexicon)} pairs, {len(rules)} suffix rules, {len(standard)} standard forms"


GENERAL_FREQUENCY = "general-frequency.tsv.gz"
GENERAL_MIN_ZIPF = 1.5


def write_general_frequency(out: Path = OUT) -> str:
    """wordfreq's Finnish word forms with their Zipf frequency (× 10, rounded), the commonest first."""
    import wordfreq  # a build-time dependency only (pip install wordfreq)

    levels: dict[int, list[str]] = defaultdict(list)
    for word in wordfreq.top_n_list("fi", 2_000_000):
        zipf = wordfreq.zipf_frequency(word, "fi")
        if zipf < GENERAL_MIN_ZIPF:
            break
        if WORD.match(word):
            levels[round(zipf * 10)].append(word)
    lines = [f"{level}\t{' '.join(sorted(words))}" for level, words in sorted(levels.items(), reverse=True)]
    with gzip.GzipFile(out / GENERAL_FREQUENCY, "wb", mtime=0) as gz:
        gz.write(("# Zipf frequency x 10\tthe Finnish word forms with it - wordfreq (CC BY-SA 4.0)\n"
                  + "\n".join(lines) + "\n").encode("utf-8"))
    return f"{sum(map(len, levels.values()))} general word frequencies"


WORD = re.compile(r"^[a-zåäöéü-]+$")
ENGLISH = "english-words.txt.gz"
ENGLISH_WORD = re.compile(r"^[a-z]{3,}$")


def write_english_words(out: Path = OUT) -> str:
    """English words a Finnish speaker may say as they are (*meeting*, *random*, *whatever*): common in English
    (Zipf ≥ 4), rarer in Finnish text (Finnish Zipf at least 0.5 lower, which keeps Finnish dialect forms such as
    *sit*, *sun*, *ton* out) and no Finnish word form to Voikko. Chosen on SKN's development locations: 4 of their
    17,234 tokens are such words (*soon* for *se on*); with Zipf ≥ 3, 14 (*lapse*, *sitter*, *mink*). The
    normaliser leaves such a word as spoken when SKN never heard it (the learned model made *meeting* *menetin*,
    *text* *te*)."""
    import wordfreq  # a build-time dependency only (pip install wordfreq)

    from koodari.nlp.loader import voikko_analyser

    voikko = voikko_analyser()
    words = []
    for word in wordfreq.top_n_list("en", 100_000):
        english = wordfreq.zipf_frequency(word, "en")
        if english < 4.0:
            break
        if ENGLISH_WORD.match(word) and wordfreq.zipf_frequency(word, "fi") <= english - 0.5 and not voikko(word):
            words.append(word)
    with gzip.GzipFile(out / ENGLISH, "wb", mtime=0) as gz:
        gz.write(("# common English words that are no Finnish word form - wordfreq (CC BY-SA 4.0), Voikko\n"
                  + "\n".join(sorted(words)) + "\n").encode("utf-8"))
    return f"{len(words)} English words"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    parser.add_argument("--general-frequency", action="store_true",
                        help="also rewrite general-frequency.tsv.gz and english-words.txt.gz from wordfreq "
                             "(pip install wordfreq)")
    args = parser.parse_args()
    print(write_resources(read_skn(args.skn / "skn3a-dev.norm"), args.ud, OUT, note="every utterance"))
    if args.general_frequency:
        print(write_general_frequency(OUT))
        print(write_english_words(OUT))


if __name__ == "__main__":
    main()
