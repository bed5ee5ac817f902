"""Lemmatisation and dialect-normalisation benchmark, written to BENCHMARKS.md.

    python bench/lemma.py [--ud ../shared/ud-finnish] [--skn ../shared/dialect-skn] [--skip-speed]
    python bench/lemma.py --speed-only --baseline COMMIT   # the CLI timings alone, into their own section

* UD Finnish-TDT *test* (never trained or tuned on): lemma accuracy with gold tokenisation (with and
  without the `#` compound boundary) and UPOS accuracy per system: the new tagger (spaCy-fi's morphologizer)
  against the old one (koodari's stanza tagger), stanza's lemmatizer with gold UPOS as a ceiling, spaCy-fi's
  UPOS as an outside reference, simplemma (a dictionary lemmatiser); tokenizer token and sentence F1.
* SKN: normalisation accuracy on development and held-out pseudo-locations (``bench/normaliser.py``), each by
  seen and unseen spoken forms, with a normaliser built from the training pseudo-locations only.
* Speed: models loaded, warm tokens/s end to end, an 8,000-word generated dialect interview imported +
  analysed + suggested through the CLI, and one vs two concurrent `koodari analyse` runs; new and old tagger.
* The seed study's quotes: tokens the normaliser changes, and lemmas before/after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))

from build_normaliser import read_skn, split_skn  # noqa: E402
from export_seq2seq import export as export_seq2seq  # noqa: E402

import koodari.nlp.pipeline as pipeline_module  # noqa: E402
from bench._report import write_section  # noqa: E402
from bench.normaliser import location_table  # noqa: E402
from koodari import app as actions  # noqa: E402
from koodari.nlp.pipeline import MODEL_FILES, FinnishPipeline, ModelSource  # noqa: E402
from koodari.views import unit_rows  # noqa: E402


def read_conllu(path: Path) -> list[dict]:
    sentences, current, text = [], [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# text = "):
            text = line[len("# text = "):]
        elif not line.strip():
            if current:
                sentences.append({"text": text, "words": current["words"], "tokens": current["tokens"]})
            current, text = [], None
        elif not line.startswith("#"):
            cols = line.split("\t")
            if not current:
                current = {"words": [], "tokens": [], "skip": set()}
            if "-" in cols[0]:
                start, end = map(int, cols[0].split("-"))
                current["tokens"].append(cols[1])
                current["skip"].update(range(start, end + 1))
            elif cols[0].isdigit():
                current["words"].append((cols[1], cols[2], cols[3]))
                if int(cols[0]) not in current["skip"]:
                    current["tokens"].append(cols[1])
    if current:
        sentences.append({"text": text, "words": current["words"], "tokens": current["tokens"]})
    return sentences


def spans(text: str, tokens: list[str], offset: int = 0) -> list[tuple[int, int]]:
    out, pos = [], 0
    for token in tokens:
        found = text.find(token, pos)
        if found < 0:
            continue
        out.append((offset + found, offset + found + len(token)))
        pos = found + len(token)
    return out


def f1(gold: set, predicted: set) -> float:
    if not gold or not predicted:
        return 0.0
    tp = len(gold & predicted)
    p, r = tp / len(predicted), tp / len(gold)
    return 2 * p * r / (p + r) if p + r else 0.0


def lemma_scores(sentences: list[dict], predicted: list[list[tuple[str, str]]]) -> dict[str, float]:
    total = exact = plain = upos = 0
    for sentence, pred in zip(sentences, predicted, strict=True):
        for (_form, gold_lemma, gold_upos), (lemma, tag) in zip(sentence["words"], pred, strict=True):
            total += 1
            exact += lemma == gold_lemma
            plain += lemma.replace("#", "").lower() == gold_lemma.replace("#", "").lower()
            upos += tag == gold_upos
    return {"exact": exact / total, "plain": plain / total, "upos": upos / total, "n": total}


def gold_upos_lemmas(pipe: FinnishPipeline, words: list[list[str]], tags: list[list[str]]) -> list[list[tuple]]:
    """stanza's lemmatizer (with koodari's back-off) given the gold UPOS: the lemmatizer's ceiling."""
    from stanza.models.common.doc import Document

    doc = Document([[{"id": (i,), "text": w, "upos": u} for i, (w, u) in enumerate(zip(ws, us, strict=True), start=1)]
                    for ws, us in zip(words, tags, strict=True)])
    tagged = pipe._tagger(doc)
    return [[(pipe._lemma(w), w.upos) for w in s.words] for s in tagged.sentences]


def spacy_upos(pipe: FinnishPipeline, words: list[list[str]]) -> list[list[tuple]]:
    return [[("", u) for u in s] for s in pipe._spacy_upos(words)]


OLD_LEMMATIZER = "42f05ab"  # the commit whose models/stanza/fi_koodari_lemmatizer.pt is issue 3's lemmatizer


def old_lemmatizer_source(folder: Path) -> ModelSource:
    """koodari's models with issue 3's lemmatizer (from git) in place of the shipped one."""
    for proc, name in MODEL_FILES.items():
        if proc != "lemma":
            (folder / name).symlink_to(ROOT / "models" / "stanza" / name)
    blob = subprocess.run(["git", "show", f"{OLD_LEMMATIZER}:models/stanza/{MODEL_FILES['lemma']}"], cwd=ROOT,
                          check=True, capture_output=True).stdout
    (folder / MODEL_FILES["lemma"]).write_bytes(blob)
    export_seq2seq(folder / MODEL_FILES["lemma"])  # koodari lemmatises from the numpy export
    (folder / "resources.json").write_text("{}", encoding="utf-8")
    return ModelSource("koodari", folder)


@contextlib.contextmanager
def backoff_for_every_upos():
    """The dictionary back-off as it was before issue 13's second pass: for every UPOS."""
    saved = pipeline_module.BACKOFF_UPOS
    pipeline_module.BACKOFF_UPOS = frozenset(UPOS_TAGS)
    try:
        yield
    finally:
        pipeline_module.BACKOFF_UPOS = saved


UPOS_TAGS = frozenset({"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
                       "PUNCT", "SCONJ", "SYM", "VERB", "X"})


def tdt_results(test: list[dict], old_source: ModelSource) -> tuple[dict, dict]:
    words = [[w for w, _, _ in s["words"]] for s in test]
    old_backoff = "old lemmatizer, back-off for every UPOS (koodari before this pass)"
    runs = {
        "**koodari** (normaliser + spaCy-fi UPOS + stanza lemmatizer + back-off + Voikko)": FinnishPipeline(),
        "koodari without Voikko (the pipeline before this pass)": FinnishPipeline(morphology=False),
        "new lemmatizer without the normaliser": FinnishPipeline(normalise=False),
        "new lemmatizer alone (no normaliser, no back-off, no Voikko)": FinnishPipeline(
            normalise=False, dictionary_backoff=False, morphology=False),
        old_backoff: FinnishPipeline(source=old_source, morphology=False),
        "old lemmatizer, new back-off (nouns, proper nouns, pronouns, numerals)": FinnishPipeline(
            source=old_source, morphology=False),
        "old lemmatizer alone (no normaliser, no back-off)": FinnishPipeline(
            source=old_source, normalise=False, dictionary_backoff=False, morphology=False),
        "old tagger (normaliser + koodari's stanza tagger + new lemmatizer + back-off + Voikko)": FinnishPipeline(
            tagger="stanza"),
    }
    results = {}
    for name, pipe in runs.items():
        with backoff_for_every_upos() if name == old_backoff else contextlib.nullcontext():
            pipe.analyse("Lämmittely.")  # load the models before timing
            start = time.perf_counter()
            tagged = pipe.analyse_pretokenized(words)
            seconds = time.perf_counter() - start
        pred = [[(t.lemma, t.upos) for t in s] for s in tagged]
        results[name] = {**lemma_scores(test, pred), "seconds": seconds}
    gold_tags = [[u for _, _, u in s["words"]] for s in test]
    for name, source in (("new", None), ("old", old_source)):
        plain = FinnishPipeline(source=source, normalise=False, morphology=source is None)
        start = time.perf_counter()
        pred = gold_upos_lemmas(plain, words, gold_tags)
        voikko = " + Voikko" if source is None else ""
        results[f"reference: gold UPOS + {name} lemmatizer + back-off{voikko}"] = {
            **lemma_scores(test, pred), "seconds": time.perf_counter() - start}
    plain = runs["new lemmatizer without the normaliser"]
    start = time.perf_counter()
    pred = spacy_upos(plain, words)
    scores = lemma_scores(test, pred)
    results["reference: spaCy-fi `fi_experimental_web_md` UPOS alone (its lemmatizer off)"] = {
        **scores, "exact": None, "plain": None, "seconds": time.perf_counter() - start}
    import simplemma

    start = time.perf_counter()
    pred = [[(simplemma.lemmatize(w, lang="fi"), None) for w in s] for s in words]
    results["simplemma (baseline)"] = {**lemma_scores(test, pred), "upos": None,
                                       "seconds": time.perf_counter() - start}
    return results, runs


def tokenizer_scores(test: list[dict], pipe: FinnishPipeline) -> dict:
    text_parts, gold_tokens, gold_sents, offset = [], set(), set(), 0
    for s in test:
        gold_tokens.update(spans(s["text"], s["tokens"], offset))
        gold_sents.add((offset, offset + len(s["text"])))
        text_parts.append(s["text"])
        offset += len(s["text"]) + 1
    raw = " ".join(text_parts)
    from koodari.nlp.normaliser import _normalise_cached

    _normalise_cached.cache_clear()
    pipe.normaliser.guesses.clear()
    pipe.normaliser.repaired.clear()
    start = time.perf_counter()
    analysed = pipe.analyse(raw)
    seconds = time.perf_counter() - start
    pred_tokens = {(t.start, t.end) for s in analysed for t in s}
    pred_sents = {(s[0].start, s[-1].end) for s in analysed if s}
    n_tokens = sum(len(s) for s in analysed)
    return {"token_f1": f1(gold_tokens, pred_tokens), "sent_f1": f1(gold_sents, pred_sents), "tokens": n_tokens,
            "seconds": seconds}


def normaliser_results(skn: Path, ud: Path) -> list[tuple[str, str, dict]]:
    """Normaliser accuracy on SKN's development and held-out pseudo-locations (bench/normaliser.py), resources
    from the training pseudo-locations only."""
    from bench.normaliser import location_rows

    return location_rows(skn, ud)[0]


def interview(skn: Path, words: int = 8000) -> tuple[str, list[str]]:
    """A generated dialect interview: SKN held-out utterances as the interviewee's turns (≈ 48 words each)."""
    _, held_out = split_skn(read_skn(skn / "skn3a-dev.norm"))
    turns, current, total = [], [], 0
    for utterance in held_out:
        current += [d for d, _ in utterance]
        if len(current) >= 48:
            turns.append(" ".join(current) + ".")
            total += len(current)
            current = []
        if total >= words:
            break
    lines = ["T8", ""]
    for i, turn in enumerate(turns):
        lines += [f"H: Kertoisitko lisää ({i + 1})?", f"P1: {turn}"]
    return "\n".join(lines) + "\n", turns


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# runs one `koodari` command and writes, to the file named first, the CPU seconds its start-up took (Python and
# importing the CLI), all its CPU seconds, and which of the heavy libraries it imported
CLI = """
import json, resource, sys
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
report, args = sys.argv[1], sys.argv[2:]
from koodari.cli import app
startup, code = cpu(), 0
try:
    app(args, prog_name="koodari")
except SystemExit as exc:
    code = exc.code or 0
libraries = [m for m in ("torch", "stanza", "spacy", "sklearn", "pyvoikko") if m in sys.modules]
with open(report, "w", encoding="utf-8") as fh:
    json.dump({"startup": startup, "cpu": cpu(), "libraries": libraries}, fh)
sys.exit(code)
"""


def cli_seconds(*args: str, env: dict, into: dict | None = None, key: str = "") -> float:
    """Wall seconds of one koodari command; with INTO, also its CPU seconds (of which start-up: Python and the
    CLI's imports), the heavy libraries it loaded and the load average after it. (``python -P``: without it, ``-c``
    puts the working directory, this checkout, before PYTHONPATH, and the baseline would run this code.)"""
    start, cpu = time.perf_counter(), _child_cpu()
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run([sys.executable, "-P", "-c", CLI, report.name, *args], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
        probe = json.loads(Path(report.name).read_text(encoding="utf-8"))
    if into is not None:
        into[key] = wall
        into[f"{key}:cpu"] = _child_cpu() - cpu
        into[f"{key}:startup"] = probe["startup"]
        into[f"{key}:libraries"] = probe["libraries"]
        into[f"{key}:load"] = os.getloadavg()[0]
    return wall


PROBE = """
import json, resource, sys, time
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
t, c = time.perf_counter(), cpu()
from koodari.nlp.pipeline import FinnishPipeline
p = FinnishPipeline()
p.analyse('Mä oon kotona.')
out = {"load": time.perf_counter() - t, "load:cpu": cpu() - c}
turns = json.loads(sys.stdin.read())
p.analyse_many(["Mä oon hirveen tärkee, jokkainen voijaan kokkeilla sitä Helsinkkiin ja poikkeuslupahakemukset."])
t, c = time.perf_counter(), cpu()
tokens = sum(len(x) for x in p.analyse_many(turns))
out.update(tokens=tokens, warm=time.perf_counter() - t, **{"warm:cpu": cpu() - c})
print(json.dumps(out))
"""


def probe(env: dict, turns: list[str]) -> dict:
    """Models loaded + first sentence in a fresh process, then the interview's turns through analyse_many."""
    out = subprocess.run([sys.executable, "-P", "-c", PROBE], input=json.dumps(turns), check=True, env=env,
                         capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["probe:load"] = os.getloadavg()[0]
    return result


def speed_results(skn: Path, root: Path) -> dict:
    """Speed of the koodari code under ROOT (this checkout, or an older commit exported as the baseline)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(root))
    env.pop("KOODARI_EMBEDDING_CACHE", None)  # set below: a new file for this run
    text, turns = interview(skn)
    out: dict = {"words": sum(len(t.split()) for t in turns), "units": len(turns)}
    out.update(min((probe(env, turns) for _ in range(2)), key=lambda r: r["load"]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env["KOODARI_EMBEDDING_CACHE"] = str(folder / "embeddings.sqlite3")  # empty: nothing embedded before
        (folder / "interview.txt").write_text(text, encoding="utf-8")
        seed = folder / "seed.koodari"
        cli_seconds("init", str(seed), "--corpus", "kainuu-2012", env=env)
        cli_seconds("train", str(seed), "--folds", "0", env=env)
        for run in ("a", "b", "c"):
            shutil.copy(seed, folder / f"{run}.koodari")
        study = str(folder / "a.koodari")
        cli_seconds("import", study, str(folder / "interview.txt"), env=env, into=out, key="import")
        cli_seconds("analyse", study, env=env, into=out, key="analyse")
        with actions.open_study(study) as opened:  # suggest on the interviewee's units, as a researcher would
            texts = [r["text"] for r in unit_rows(opened, None) if not r["interviewer"]]
        (folder / "utterances.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        out["utterances"] = len(texts)
        cli_seconds("suggest", study, "--file", str(folder / "utterances.txt"), "--question", "T8", "--json",
                    env=env, into=out, key="suggest")
        # the same again, in a new process: the sentence embeddings the first run kept are read back
        cli_seconds("suggest", study, "--file", str(folder / "utterances.txt"), "--question", "T8", "--json",
                    env=env, into=out, key="suggest_again")
        with contextlib.suppress(subprocess.CalledProcessError):  # a baseline may have no `koodari search`
            cli_seconds("search", study, texts[0], "--json", env=env, into=out, key="search")  # a unit's text
        for run in ("b", "c"):
            cli_seconds("import", str(folder / f"{run}.koodari"), str(folder / "interview.txt"), env=env)
        # one `koodari analyse` alone, then two at once (two coders on one laptop)
        out["analyse_alone"] = out["analyse"]
        start = time.perf_counter()
        procs = [subprocess.Popen([str(Path(sys.executable).with_name("koodari")), "analyse",
                                   str(folder / f"{run}.koodari")], env=env, stdout=subprocess.DEVNULL)
                 for run in ("b", "c")]
        for proc in procs:
            proc.wait()
        out["analyse_two"] = time.perf_counter() - start
        out["analyse_two:load"] = os.getloadavg()[0]
    return out


def speed_lines(speed: dict, baseline: dict, baseline_name: str) -> list[str]:
    """The speed table: this checkout against the baseline's code, measured in the same run."""

    def cell(r: dict, key: str) -> str:
        cpu = f" / {r[key + ':cpu']:.1f}" if key + ":cpu" in r else ""
        return f"{r[key]:.1f}{cpu} (load {r.get(key + ':load', r.get('probe:load', 0)):.1f})"

    def total(r: dict) -> str:
        wall = r["import"] + r["analyse"] + r["suggest"]
        cpu = r["import:cpu"] + r["analyse:cpu"] + r["suggest:cpu"]
        return f"**{wall:.1f}** / {cpu:.1f}"

    def split(r: dict, key: str) -> str:
        if f"{key}:startup" not in r:
            return "–"
        libraries = ", ".join(r[f"{key}:libraries"]) or "none"
        return f"{r[f'{key}:startup']:.2f} + {r[f'{key}:cpu'] - r[f'{key}:startup']:.2f} ({libraries})"

    commands = [("import", "`koodari import`"), ("analyse", "`koodari analyse`"),
                ("suggest", f"`koodari suggest --file` on the interviewee's {speed['utterances']} units"),
                ("suggest_again", "the same `koodari suggest --file` again (sentence embeddings kept by the first)"),
                ("search", "`koodari search` with a unit's text as the query")]
    return [
        f"Speed (`OMP_NUM_THREADS=1`; a generated dialect interview of {speed['words']:,} words in"
        f" {speed['units']} turns from SKN held-out utterances, on a study with the seed corpus trained)."
        " Each cell: wall seconds / CPU seconds of the process (load average after it). The machine's 2 cores"
        " are shared with other jobs, so wall time swells with the load; CPU seconds are what a quiet machine's"
        f" wall time would be (one thread). Baseline: the code of commit {baseline_name}, exported and run in the"
        " same session.",
        "",
        "| measure | this commit | baseline |",
        "|---|---:|---:|",
        "| models loaded + first sentence (fresh process, imports included; best of 2) |"
        f" {cell(speed, 'load')} | {cell(baseline, 'load')} |",
        "| warm `analyse_many` on the interview's turns, tokens/s (wall / CPU; after a dialect sentence that"
        " loads every lazy part: Voikko, the learned normaliser, simplemma) |"
        f" {speed['tokens'] / speed['warm']:,.0f} / {speed['tokens'] / speed['warm:cpu']:,.0f}"
        f" (load {speed['probe:load']:.1f}) | {baseline['tokens'] / baseline['warm']:,.0f} /"
        f" {baseline['tokens'] / baseline['warm:cpu']:,.0f} (load {baseline['probe:load']:.1f}) |",
        *(f"| {name} | {cell(speed, key)} | {cell(baseline, key) if key in baseline else '–'} |"
          for key, name in commands if key in speed),
        f"| import + analyse + suggest | {total(speed)} | {total(baseline)} |",
        "| two `koodari analyse` at once (wall, both done) vs one alone |"
        f" {speed['analyse_two']:.1f} vs {speed['analyse_alone']:.1f} (load {speed['analyse_two:load']:.1f}) |"
        f" {baseline['analyse_two']:.1f} vs {baseline['analyse_alone']:.1f}"
        f" (load {baseline['analyse_two:load']:.1f}) |",
        "",
        "Where each command's CPU seconds go: start-up (Python and importing the CLI) + the command's work, and the"
        " heavy libraries the process imported (torch, stanza and spaCy are the Finnish models; sklearn the"
        " suggestion model; pyvoikko Voikko's morphology):",
        "",
        "| command | this commit | baseline |",
        "|---|---|---|",
        *(f"| {name} | {split(speed, key)} | {split(baseline, key)} |" for key, name in commands if key in speed),
    ]


def baseline_root(commit: str, folder: Path) -> Path:
    """The koodari code and models of COMMIT, exported (git archive) into FOLDER."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    parser.add_argument("--skn", type=Path, default=ROOT.parent / "shared" / "dialect-skn")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the CLI timings (minutes)")
    parser.add_argument("--baseline", default=OLD_LEMMATIZER, help="the commit whose code is the speed baseline")
    parser.add_argument("--speed-only", action="store_true",
                        help="only the CLI timings, against --baseline, into their own section (e2e)")
    args = parser.parse_args()
    if args.speed_only:
        speed = speed_results(args.skn, ROOT)
        with tempfile.TemporaryDirectory() as tmp:
            baseline = speed_results(args.skn, baseline_root(args.baseline, Path(tmp)))
        lines = ["## One interview through the CLI: import, analyse, suggest (issue 13)", "",
                 *speed_lines(speed, baseline, args.baseline)]
        write_section("e2e", "\n".join(lines))
        print("\n".join(lines))
        return
    test = read_conllu(args.ud / "fi_tdt-ud-test.conllu")
    threads = os.environ.get("OMP_NUM_THREADS", "torch default")

    from eval_lemmatizer import dev_split, evaluate

    with tempfile.TemporaryDirectory() as tmp:
        old_source = old_lemmatizer_source(Path(tmp))
        dev_rows = {name: evaluate(path, dev_split(args.ud)) for name, path in (
            ("new", ROOT / "models" / "stanza" / MODEL_FILES["lemma"]), ("old", old_source.model_paths()["lemma"]))}
        results, runs = tdt_results(test, old_source)
    pipeline = runs[next(iter(runs))]
    old = runs["old tagger (normaliser + koodari's stanza tagger + new lemmatizer + back-off + Voikko)"]
    tok_new, tok_old = tokenizer_scores(test, pipeline), tokenizer_scores(test, old)
    stanza_tokens = FinnishPipeline(tokeniser="stanza")  # the tokenizer before branch toknp
    stanza_tokens.analyse("Lämmittely.")  # its models loaded before timing, as the others' are
    tok_stanza = tokenizer_scores(test, stanza_tokens)
    norm_rows = normaliser_results(args.skn, args.ud)
    speed = baseline = None
    if not args.skip_speed:
        speed = speed_results(args.skn, ROOT)
        with tempfile.TemporaryDirectory() as tmp:
            baseline = speed_results(args.skn, baseline_root(args.baseline, Path(tmp)))

    # the seed quotes: what changes, lemmas before/after
    plain_pipeline = runs["new lemmatizer without the normaliser"]
    quotes = [json.loads(line) for line in (ROOT / "corpora/kainuu-2012/quotes.jsonl").read_text().splitlines()]
    quote_tokens = [[t.text for t in s] for q in quotes for s in pipeline.analyse(q["text"])]
    with_norm = pipeline.analyse_pretokenized(quote_tokens)
    without = plain_pipeline.analyse_pretokenized(quote_tokens)
    changed = [(a, b) for sa, sb in zip(with_norm, without, strict=True) for a, b in zip(sa, sb, strict=True)
               if a.normalised != a.text]
    n_quote_tokens = sum(len(s) for s in quote_tokens)
    lemma_changed = [(a, b) for a, b in changed if a.lemma != b.lemma]
    examples = []
    for a, b in lemma_changed:
        if a.text.lower() not in {e[0].lower() for e in examples}:
            examples.append((a.text, b.lemma, a.normalised, a.lemma))

    def pct(x) -> str:
        return "–" if x is None else f"{x:.1%}"

    lines = [
        "## Lemmatisation and dialect normalisation (issues 3 and 13)",
        "",
        f"UD Finnish-TDT test: {results['simplemma (baseline)']['n']:,} words, gold tokenisation. "
        "`exact` compares lemmas as UD writes them (compound boundary `#` included, case kept); `plain` drops `#`"
        " and case. simplemma writes no `#`, so its `exact` is only for completeness. Threads: "
        f"{threads}. Nothing in this table was used to tune anything. The *new lemmatizer* is issue 3's seq2seq"
        " with its dictionary rebuilt from TDT dev (less every 10th sentence) + FTB dev and test harmonised to TDT"
        f" (models/README.md); the *old* one is issue 3's, read from git (commit {OLD_LEMMATIZER}). *Voikko*: the"
        " lemma of an unseen noun, verb or adjective from Voikko's morphology (`koodari/nlp/morphology.py`, issue"
        " 13's third pass, chosen on the development split below).",
        "",
        "| system | lemma exact | lemma plain | UPOS | words/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {pct(r['exact'])} | {pct(r['plain'])} | {pct(r['upos'])} |"
                     f" {r['n'] / r['seconds']:,.0f} |")
    dev_names = list(dev_rows["new"])
    lines += [
        "",
        f"Development split (every 10th sentence of TDT dev, {dev_rows['new'][dev_names[0]]['n']:,} words; neither"
        " lemmatizer trained on it; the lemmatizer's best epoch and the back-off's UPOS were chosen on it;"
        " `models/eval_lemmatizer.py`), lemma `plain` / `exact`:",
        "",
        "| lemmatizer | " + " | ".join(dev_names) + " |",
        "|---|" + "---:|" * len(dev_names),
    ]
    for name, row in dev_rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{pct(row[k]['plain'])} / {pct(row[k]['exact'])}" for k in dev_names)
                     + " |")
    lines += [
        "",
        "Tokenizer on the raw test text (`bench/tokeniser.py` has the development split and the tokenisers alone)."
        " End to end: tokenise, normalise, tag, lemmatise; cold normaliser cache, models loaded, same run:",
        "",
        "| tokeniser | token F1 | sentence F1 | tokens/s end to end |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {r['token_f1']:.1%} | {r['sent_f1']:.1%} | {r['tokens'] / r['seconds']:,.0f} |" for name, r in (
            ("**rule-based** (`koodari/nlp/tokeniser.py`), new tagger", tok_new),
            ("stanza's tokenizer (koodari's model, before branch toknp), new tagger", tok_stanza),
            ("rule-based, old tagger", tok_old))),
        "",
        "Dialect normalisation, SKN, by recording location (token accuracy; `seen`/`unseen`: the spoken form is /"
        " is not in the training lexicon): whole pseudo-locations held out, resources from the training ones"
        " only, design chosen on the development rows, held-out rows not looked at while tuning; the"
        " normaliser section below (`bench/normaliser.py`) says how the locations are made and what changes"
        " on standard Finnish.",
        "",
        *location_table(norm_rows),
    ]
    if speed and baseline:
        lines += ["", *speed_lines(speed, baseline, args.baseline)]
    lines += [
        "",
        f"Seed quotes ({len(quotes)} quotes, {n_quote_tokens:,} tokens): the normaliser changes {len(changed)} tokens"
        f" ({len(changed) / n_quote_tokens:.1%}); {len(lemma_changed)} of them get another lemma than without it."
        " Examples (spoken → lemma without normaliser → normalised → lemma):",
        "",
        "| spoken | lemma as spoken | normalised | lemma |",
        "|---|---|---|---|",
    ]
    for spoken, before, normalised, after in examples[:20]:
        lines.append(f"| {spoken} | {before} | {normalised} | {after} |")
    write_section("lemma", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
