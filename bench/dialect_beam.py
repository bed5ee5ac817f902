"""The numpy n-best and forced scores of the dialect model against the torch reference; written to BENCHMARKS.md.

    python bench/dialect_beam.py [--skn ../shared/dialect-skn] [--no-write]

``koodari.nlp.dialect_beam.BeamModel`` (numpy, ``skn-seq2seq.npz``) against ``bench/dialect_beam_torch.py`` (a
frozen copy of the torch version, over stanza's model loaded from ``skn-seq2seq.pt``), in one process:

* ``nbest``: every distinct SKN dialect word of ``skn3a-dev.norm`` lower-cased (as the normaliser asks), at
  ``k`` = 5 and 10, and the words as spoken (capitals: characters the model never saw, its ``<UNK>``) at ``k`` = 5:
  the same forms in the same order for each word, the words in the same order, the largest |Δ log-probability|.
* ``score``: every distinct (dialect, standard) pair of the file, lower-cased, and each word with its standard
  form's capitalised spelling: the largest |Δ log-probability|.

CPU seconds (``resource.getrusage``) of each with its model loaded, one thread; and of a fresh process that imports
each, loads its model and asks for the n-best of 100 words (what torch's import costs the normaliser).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))

from build_normaliser import read_skn  # noqa: E402

from bench._report import write_section  # noqa: E402
from bench.dialect_beam_torch import BeamModel as TorchBeamModel  # noqa: E402
from koodari.nlp.dialect_beam import BeamModel  # noqa: E402
from koodari.nlp.dialect_model import MODEL_NAME  # noqa: E402
from koodari.nlp.resources import normaliser_dir  # noqa: E402

TIE = 1e-5  # float32 rounding may swap two forms whose log-probabilities are this close


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(call, *args):
    """(result, CPU seconds, wall seconds) of ``call(*args)``."""
    c, w = cpu(), time.perf_counter()
    out = call(*args)
    return out, cpu() - c, time.perf_counter() - w


def compare_nbest(ours: dict, theirs: dict) -> tuple[int, int, float, bool]:
    """(words whose forms or their order differ, those where that is more than two forms within ``TIE`` of each
    other trading places, the largest |Δ| of a form both give, the same word order)."""
    differ, beyond_ties, worst = 0, 0, 0.0
    for word, expected in theirs.items():
        got = ours.get(word, [])
        mine, other = dict(got), dict(expected)
        worst = max([worst, *(abs(mine[f] - other[f]) for f in mine.keys() & other.keys())])
        if [f for f, _ in got] != [f for f, _ in expected]:
            differ += 1
            beyond_ties += len(got) != len(expected) or any(
                a != b and abs(x - y) >= TIE for (a, x), (b, y) in zip(got, expected, strict=True))
    return differ, beyond_ties, worst, list(ours) == list(theirs)


def cold_start(module: str, words: list[str]) -> float:
    """CPU seconds of a fresh process that imports ``module``'s BeamModel and asks for the words' 5 best."""
    code = (f"import resource, sys\nfrom {module} import BeamModel\nfrom koodari.nlp.resources import normaliser_dir\n"
            f"BeamModel(normaliser_dir() / 'skn-seq2seq.pt').nbest({words!r}, 5)\n"
            "u = resource.getrusage(resource.RUSAGE_SELF)\nprint(u.ru_utime + u.ru_stime)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    utterances = read_skn(args.skn / "skn3a-dev.norm")
    spoken = sorted({d for u in utterances for d, _ in u if d})
    lowered = sorted({d.lower() for d in spoken})
    pairs = sorted({(d.lower(), s.lower()) for u in utterances for d, s in u if d and s})
    capitalised = [(d, s.capitalize()) for d, s in pairs[:2000]]

    checkpoint = normaliser_dir() / MODEL_NAME
    ours, theirs = BeamModel(checkpoint), TorchBeamModel(checkpoint)
    ours.nbest(["mettään"]), theirs.nbest(["mettään"])  # loaded (torch's import and stanza's model) before timing
    rows = []
    for name, words, k in (("dialect words, lower-cased", lowered, 5), ("dialect words, lower-cased", lowered, 10),
                           ("dialect words as spoken (capitals)", [w for w in spoken if w != w.lower()], 5)):
        a, a_cpu, a_wall = timed(ours.nbest, words, k)
        b, b_cpu, b_wall = timed(theirs.nbest, words, k)
        differ, beyond_ties, worst, same_order = compare_nbest(a, b)
        rows.append(f"| nbest, {name} | {k} | {len(words):,} | {differ} ({beyond_ties}) | {worst:.1e} | "
                    f"{'yes' if same_order else 'no'} | {b_cpu:.2f} ({b_wall:.2f}) | {a_cpu:.2f} ({a_wall:.2f}) |")
        print(rows[-1], flush=True)
    for name, items in (("(dialect, standard) pairs, lower-cased", pairs),
                        ("(dialect, Standard): a capital the model never saw", capitalised)):
        a, a_cpu, a_wall = timed(ours.score, items)
        b, b_cpu, b_wall = timed(theirs.score, items)
        worst = max(abs(x - y) for x, y in zip(a, b, strict=True))
        rows.append(f"| score, {name} | | {len(items):,} | | {worst:.1e} | | {b_cpu:.2f} ({b_wall:.2f}) | "
                    f"{a_cpu:.2f} ({a_wall:.2f}) |")
        print(rows[-1], flush=True)

    sample = lowered[::180]
    starts = [min(cold_start(m, sample) for _ in range(3)) for m in ("bench.dialect_beam_torch",
                                                                      "koodari.nlp.dialect_beam")]
    rows.append(f"| fresh process: import, load, nbest | 5 | {len(sample):,} | | | | {starts[0]:.2f} | "
                f"{starts[1]:.2f} |")
    print(rows[-1], flush=True)
    body = "\n".join([
        "## The dialect model's n-best and scores in numpy (`bench/dialect_beam.py`)",
        "",
        "The normaliser's beam search and teacher-forced scores (`koodari/nlp/dialect_beam.py` over"
        " `Seq2SeqLemmatiser.nbest` / `.score`, from `skn-seq2seq.npz`) against the torch version over stanza's"
        " model (`bench/dialect_beam_torch.py`, a frozen copy of it), in one process, SKN `skn3a-dev.norm`."
        " *differ*: words whose n-best forms or their order differ (in brackets: those where more differs than"
        f" two forms within {TIE:g} of each other trading places, float32 rounding); |Δ|: the largest"
        " difference of a form's log-probability; *word order*: the returned dicts' keys in the same order."
        " CPU seconds (wall in brackets), models loaded, one thread; the last row: a fresh process (best of 3)"
        " that imports the module, loads the model and asks for the n-best of every 180th word. Nothing here"
        " was tuned.",
        "",
        "| call | k | words / pairs | differ | max \\|Δ\\| | word order | torch CPU s | numpy CPU s |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section("dialect-beam", body)


if __name__ == "__main__":
    main()
