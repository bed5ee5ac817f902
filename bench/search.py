"""Search by meaning on the seed study's quotes, and its speed, written to BENCHMARKS.md.

    python bench/search.py

The 138 thesis quotes become the analysis units of one transcript. Each query below was written by hand
from a subcategory's name and the thesis's prose about it, in other words than its quotes (none of them
was looked up in the quotes); a hit is any unit of a quote the thesis coded with that subcategory. Mean
reciprocal rank of the first hit over all units, words only (the lexical score alone) against words +
meaning (koodari's search). Speed: one query over 10,000 units (the quotes repeated), after the first call.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import koodari.search as search  # noqa: E402
from bench._report import write_section  # noqa: E402
from koodari import app as actions  # noqa: E402
from koodari.corpus import corpus_dir  # noqa: E402
from koodari.nlp.cache import analyse_units  # noqa: E402
from koodari.store import Study  # noqa: E402

# category (a subcategory, or an upper category where the thesis's quotes name no subcategory) → a query
# written from its name and the thesis's description, not from its quotes
QUERIES = {
    "heikko taloudellinen tilanne": "rahan puute ja köyhyys",
    "ulosottoasiat": "velat ovat menneet perintään",
    "talous- ja velkaneuvonta": "apua raha-asioiden hoitamiseen",
    "pitkäaikaistyöttömyys": "työttömyys on kestänyt vuosia",
    "työpaikkojen puute": "alueella ei ole avoimia työpaikkoja",
    "riippuvuus huumeisiin": "huumeiden käyttö",
    "yksin asuminen": "asiakas elää yksinään",
    "heikot sosiaaliset taidot": "vaikeus olla tekemisissä muiden ihmisten kanssa",
    "perheen heikko sosiaalinen tausta": "lapsuudenkodin ongelmat",
    "erilaiset kulttuurit tai maahanmuuttoon liittyvät tilanteet": "maahanmuuttajat ja kielitaito",
    "sairaus": "terveysongelmat estävät työnteon",
    "ammatillisen koulutuksen puute": "ei ammattitutkintoa",
    "asiakkaan motivointi": "innostaa asiakasta yrittämään",
    "esimiestaidot": "johtamisen taito",
    "päihde- ja mielenterveyspalvelut": "apua alkoholiongelmiin ja psyykkisiin ongelmiin",
    "Kela": "sosiaalivakuutus ja etuudet",
    "Työ- ja elinkeinotoimisto": "työvoimaviranomainen",
    "terveydenhuolto": "lääkärin palvelut",
    "opiskelemaan/koulutukseen": "asiakas jatkaa oppilaitokseen",
    "palkkatukityö": "tuettu työsuhde",
    "työttömäksi": "jakson jälkeen jää ilman työtä",
    "luottamuksen saavuttaminen": "asiakas alkaa luottaa ohjaajaan",
    "mielekäs työ": "työ tuntuu merkitykselliseltä",
    "asiakastyöhön liittyvä kirjaaminen": "raporttien kirjoittaminen",
    "asiakkaan kuuleminen": "asiakkaan mielipiteen huomioiminen",
}


def quote_study(folder: Path) -> tuple[Study, dict[int, set[str]]]:
    """A study whose units are the thesis quotes; unit id → the categories (sub and upper) of its quote."""
    quotes = [json.loads(line) for line in (corpus_dir("kainuu-2012") / "quotes.jsonl").open(encoding="utf-8")]
    actions.create_study(folder / "quotes.koodari", "kainuu-2012")
    study = actions.open_study(folder / "quotes.koodari")
    lines, spans, position = [], [], 0
    for q in quotes:
        text = " ".join(q["text"].split())
        line = f"V: {text}\n"
        spans.append((position + 3, position + len(line) - 1, {q.get("subcategory"), q.get("upper")} - {None}))
        lines.append(line)
        position += len(line)
    path = folder / "quotes.txt"
    path.write_text("".join(lines), encoding="utf-8")
    actions.import_files(study, [path])
    relevant: dict[int, set[str]] = {}
    for row in study.units_for_search():
        segment = study.segment(row.id)
        start = segment.char_start
        relevant[row.id] = set().union(*(codes for first, last, codes in spans if first <= start < last))
    return study, relevant


def mrr(index: search.MeaningIndex, unit_ids: list[int], relevant: dict[int, set[str]], docs) -> list[float]:
    out = []
    for sub, doc in docs:
        order = np.argsort(-index.scores(doc), kind="stable")
        rank = next((r + 1 for r, i in enumerate(order) if sub in relevant[unit_ids[i]]), None)
        out.append(1 / rank if rank else 0.0)
    return out


def vector_load(words: list[str]) -> dict[str, tuple[float, float, float]]:
    """Per loader, in a fresh process each: (seconds to load and give the first vector, MB resident added,
    seconds for the vectors of ``words``) and the MB resident after them. spaCy's own floret lookup (import its
    vector code, read the table; the loader before this run's change) and koodari's (numpy memory-map + mmh3)."""
    loaders = {
        "spacy": "from koodari.vectors import vectors_dir; import spacy.vectors;"
                 "t = spacy.vectors.Vectors(shape=(1, 1)).from_disk(vectors_dir()); get = t.get_batch",
        "koodari": "from koodari.vectors import load_vectors; get = load_vectors()",
    }
    out = {}
    for name, load in loaders.items():
        code = ("import json, sys, time, psutil; p = psutil.Process(); import numpy; words = json.load(sys.stdin);"
                f"m0 = p.memory_info().rss; t0 = time.perf_counter(); {load}; get(['koe']);"
                "t1 = time.perf_counter(); m1 = p.memory_info().rss; get(words); t2 = time.perf_counter();"
                "print(t1 - t0, (m1 - m0) / 2**20, t2 - t1, (p.memory_info().rss - m0) / 2**20)")
        result = subprocess.run([sys.executable, "-c", code], input=json.dumps(words), capture_output=True,
                                text=True, check=True).stdout.split()
        out[name] = tuple(float(x) for x in result)
    return out


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    study, relevant = quote_study(folder)
    pipeline = actions.pipeline()
    rows = study.units_for_search()
    unit_ids = [r.id for r in rows]
    docs = analyse_units(study, pipeline, unit_ids)
    coded = {sub for subs in relevant.values() for sub in subs}
    missing = [s for s in QUERIES if s not in coded]
    if missing:
        raise SystemExit(f"no quote coded with {missing}")
    queries = [(sub, search.query_doc(study, pipeline, q)) for sub, q in QUERIES.items()]
    shared = sum(
        1 for sub, doc in queries
        if not any({w[2] for w in doc.words} & {w[2] for w in docs[i].words}
                   for i, u in enumerate(unit_ids) if sub in relevant[u])
    )
    index = search.MeaningIndex(docs)
    results = {}
    systems = {
        "words only (lemma + character TF-IDF)": ((1.0, 0.0, 0.0), True),
        "**words + meaning (koodari search: each score standardised over the units, weights 0.4 / 0.4 / 0.2 "
        "fixed before this benchmark)**": (search.WEIGHTS, True),
        "words + meaning, raw scores added (before standardising)": (search.WEIGHTS, False),
        "meaning word by word alone (sensitivity)": ((0.0, 1.0, 0.0), True),
        "meaning of the whole text alone (sensitivity)": ((0.0, 0.0, 1.0), True),
        "words 0.6 / word by word 0.2 / whole text 0.2, raw scores (sensitivity, seen on these queries)":
            ((0.6, 0.2, 0.2), False),
    }
    kept, standardised = search.WEIGHTS, search._standardised
    for name, (weights, standardise) in systems.items():
        search.WEIGHTS = weights
        search._standardised = standardised if standardise else (lambda scores: scores)
        try:
            results[name] = mrr(index, unit_ids, relevant, queries)
        finally:
            search.WEIGHTS, search._standardised = kept, standardised
    big = (docs * (10_000 // len(docs) + 1))[:10_000]
    start = time.perf_counter()
    big_index = search.MeaningIndex(big)
    build_seconds = time.perf_counter() - start
    big_index.scores(queries[0][1])
    timings = []
    for _, doc in queries:
        start = time.perf_counter()
        big_index.scores(doc)
        timings.append((time.perf_counter() - start) * 1000)
    vocabulary = sorted({f for doc in docs for word in doc.words for f in word if f})
    loads = vector_load(vocabulary)
    study.close()
    lines = [
        "## Search by meaning (issue 12)",
        "",
        f"The {len(unit_ids)} units of the 138 thesis quotes (one transcript); {len(QUERIES)} queries written by hand "
        "from subcategory names and the thesis's prose about them, not from the quotes (listed in `bench/search.py`;"
        " written once, not revised after seeing results). A hit is a unit of a quote coded with the query's "
        f"subcategory; {len(QUERIES) - shared} of the {len(QUERIES)} queries share a lemma with at least one of their"
        " hits. Search over all units, no question filter.",
        "",
        "| system | MRR | hit at rank 1 | hit in top 5 |",
        "|---|---:|---:|---:|",
    ]
    for name, rr in results.items():
        lines.append(f"| {name} | {statistics.mean(rr):.3f} | {sum(r == 1 for r in rr)} / {len(rr)} | "
                     f"{sum(r >= 0.2 for r in rr)} / {len(rr)} |")
    lines += [
        "",
        "| speed and memory | value |",
        "|---|---:|",
        f"| load the floret table (50,000 × 300) and give the first word vector, fresh process: spaCy's vector code "
        f"(the loader before) | {loads['spacy'][0]:.2f} s, +{loads['spacy'][1]:.0f} MB |",
        f"| the same with koodari's loader (numpy memory-map + mmh3, no spaCy) | {loads['koodari'][0]:.2f} s, "
        f"+{loads['koodari'][1]:.0f} MB |",
        f"| then the vectors of the study's {len(vocabulary):,} word forms: spaCy's / koodari's | "
        f"{loads['spacy'][2]:.2f} s / {loads['koodari'][2]:.2f} s |",
        f"| resident memory added in all, spaCy's / koodari's | +{loads['spacy'][3]:.0f} MB / "
        f"+{loads['koodari'][3]:.0f} MB |",
        f"| index 10,000 analysed units (vectors of their words, once) | {build_seconds:.2f} s |",
        f"| one query over 10,000 units after the first call (median of {len(timings)}) | "
        f"{statistics.median(timings):.1f} ms |",
    ]
    write_section("search", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
