"""The floor under issue 13's end-to-end target: what importing, analysing and suggesting an interview costs at least.

    python bench/floor.py [--skn ../shared/dialect-skn]

Issue 13 asks for an 8,000-word interview imported + analysed + suggested in under 5 s on 2 cores. This script
adds up what that cannot do without, in CPU seconds on one thread (``OMP_NUM_THREADS=1``):

* fixed costs, each in a fresh process (best of 3): Python and koodari's CLI; the Finnish analysis pipeline's
  models (spaCy-fi's tagger, the normaliser, Voikko, the lemmatiser) loaded and a first sentence analysed; torch
  imported (the sentence encoder's fast runtime); the encoder's network unpacked; scikit-learn and the suggestion
  model's code imported;
* the work itself, in one process with everything loaded: the interview's turns analysed (warm), its
  interviewee turns embedded as E5 queries (bfloat16 where the processor has it, as koodari runs it), and their
  suggestions computed from the seed study's trained model (transform, probabilities, reasons).

The sum is what one core would need; two cores cannot take less than half of it, and only if every part could run
beside another (imports and model loading are serial in each process). Nothing here was tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import write_section  # noqa: E402
from bench.lemma import interview  # noqa: E402

SKN = Path(__file__).resolve().parents[2] / "shared" / "dialect-skn"

FIXED = {
    "Python + koodari's CLI imported": "import koodari.cli",
    "the analysis pipeline's models loaded + a first sentence": (
        "from koodari.nlp.pipeline import FinnishPipeline\n"
        "FinnishPipeline().analyse_many(['Mä oon hirveen tärkee, jokkainen voijaan kokkeilla sitä.'])"),
    "torch imported": "import torch",
    "the sentence encoder's network unpacked (torch imported)": (
        "from koodari.e5 import E5\nE5().ready()"),
    "scikit-learn + the suggestion model's code imported": "import koodari.classify",
}
# what a row costs beyond another row (the encoder's network needs torch imported; the pipeline needs the CLI's
# imports no more than any command does)
LESS = {"the sentence encoder's network unpacked (torch imported)": "torch imported"}

MEASURE = """
import json, resource, sys
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
start = cpu()
exec(sys.argv[1])
print(json.dumps(cpu()))
"""


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fresh_process_cpu(code: str, env: dict, runs: int = 3) -> float:
    """CPU seconds of a fresh Python process running CODE, start-up included (best of RUNS)."""
    best = float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-P", "-c", MEASURE, code], check=True, env=env, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
    return best


def work(skn: Path) -> dict[str, float]:
    """CPU seconds of the work itself, everything loaded first."""
    from koodari import app as actions
    from koodari import sentences
    from koodari.semantic import query_texts

    text, turns = interview(skn)
    tmp = Path(tempfile.mkdtemp())
    os.environ["KOODARI_EMBEDDING_CACHE"] = "off"  # every text embedded here, in this process
    sentences.use_backing(None)
    study = tmp / "seed.koodari"
    actions.create_study(study, "kainuu-2012")
    actions.train(study, folds=0)
    out: dict[str, float] = {"words": float(sum(len(t.split()) for t in turns)), "turns": float(len(turns))}
    nlp = actions.pipeline()
    nlp.analyse_many(["Mä oon hirveen tärkee, jokkainen voijaan kokkeilla sitä Helsinkkiin."])  # lazy parts loaded
    questions = [f"Kertoisitko lisää ({i + 1})?" for i in range(len(turns))]
    start = cpu()
    analysed = nlp.analyse_many(turns + questions)  # the whole interview: both speakers' turns
    out["analysis"] = cpu() - start
    out["tokens"] = float(sum(len(d) for d in analysed))
    with actions.open_study(study) as opened:
        found = actions.suggester(opened)
        docs = found.docs_for_texts(turns)  # the interviewee's turns as the suggester reads them
        semantic = found.model.semantic
        queries = [t for d in docs for t in query_texts(d, semantic.query_form, semantic.query_words)]
        sentences.encode(["Mä oon kotona. " * 400], "query")  # the encoder loaded (torch's runtime: a large job)
        start = cpu()
        sentences.encode(queries, "query")
        out["embedding"] = cpu() - start
        question = opened.require_question("T8")  # as `bench/lemma.py`'s `suggest --file --question T8`
        found.suggest_docs(docs[:2], [question] * 2)  # the first call's lazy parts (Voikko's compound parts' load)
        start = cpu()
        found.suggest_docs(docs, [question] * len(turns))
        out["suggestions"] = cpu() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skn", type=Path, default=SKN)
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    bare = fresh_process_cpu("pass", env)  # Python's own start-up, counted once (in the CLI's row)
    fixed = {name: fresh_process_cpu(code, env) - (0.0 if i == 0 else bare)
             for i, (name, code) in enumerate(FIXED.items())}
    for name, base in LESS.items():
        fixed[name] -= fixed[base] + bare
    done = work(args.skn)
    rows = [(name, seconds) for name, seconds in fixed.items()]
    rows += [(f"analysing the interview ({int(done['tokens']):,} tokens, both speakers), warm", done["analysis"]),
             (f"embedding its {int(done['turns'])} interviewee turns as E5 queries (first 64 words)",
              done["embedding"]),
             (f"suggesting for those {int(done['turns'])} turns, model loaded (transform, probabilities, reasons)",
              done["suggestions"])]
    total = sum(seconds for _, seconds in rows)
    models = fixed["the analysis pipeline's models loaded + a first sentence"]
    # suggestions need the lemmas, so at best: one process loads the models and analyses half the interview while a
    # second does the other half (loading them too) and every import happens beside them; then the suggestions
    critical = models + done["analysis"] / 2 + done["suggestions"]
    encoder = done["embedding"] + sum(fixed[name] for name in LESS) + sum(fixed[name] for name in LESS.values())
    lines = [
        "## The floor under the end-to-end target (issue 13)",
        "",
        f"What an {int(done['words']):,}-word interview imported + analysed + suggested cannot do without "
        "(`bench/floor.py`): CPU seconds on one thread; fixed costs each in a fresh process (best of 3), the work in "
        "one process with everything loaded. Nothing here was tuned.",
        "",
        "| part | CPU s |",
        "|---|---:|",
        *[f"| {name} | {seconds:.2f} |" for name, seconds in rows],
        f"| **sum: one core** | **{total:.2f}** |",
        f"| **two cores, every part beside another (a lower bound)** | **{total / 2:.2f}** |",
        f"| **two cores, the critical path: the analysis's models, half the analysis (the other half in a second "
        f"process), the suggestions; everything else beside it** | **{critical:.2f}** |",
        f"| without the sentence encoder (no torch, no embedding): two cores, every part beside another | "
        f"{(total - encoder) / 2:.2f} |",
        "",
        "Each koodari command pays the Python start-up again, and the analysis's models and the encoder's network "
        "load once per process, so the commands themselves take more (the end-to-end section).",
    ]
    write_section("floor", "\n".join(lines))
    print("\n".join(lines))
    print(json.dumps(done))


if __name__ == "__main__":
    main()
