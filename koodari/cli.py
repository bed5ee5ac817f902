"""The `koodari` command line: parse the arguments, call the application layer (``koodari.app``), render."""

from __future__ import annotations

import functools
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from koodari import __version__
from koodari import app as actions
from koodari.demo import run_demo
from koodari.errors import KoodariError
from koodari.lazy import load
from koodari.plots import line_plot
from koodari.progress import run_analyse, run_import_each, run_suggest_file
from koodari.store import DatabaseError
from koodari.textio import argument_text
from koodari.tree import to_csv, to_markdown, to_rich

review_tui = load("koodari.review_tui")  # these two need scikit-learn: loaded by `review` and `serve` only
web_server = load("koodari.web.server")

app = typer.Typer(
    name="koodari",
    help="Data-driven content analysis of Finnish interview transcripts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
reductions_app = typer.Typer(help="The researcher's hand-made reductions.", no_args_is_help=True)
app.add_typer(reductions_app, name="reductions")

# piped output (and tests) get a fixed, readable width instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
F = TypeVar("F", bound=Callable[..., Any])

StudyArg = Annotated[Path, typer.Argument(help="The study file (.koodari).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="On the tree and codes as they were at this time (ISO, e.g. 2026-03-01T14:30; default: now).")]


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _as_typed(name: str, value: Any) -> Any:
    """A text argument as typed (bytes that are not UTF-8 read as cp1252, or one line refusing them)."""
    if isinstance(value, str):
        return argument_text(value, f"the argument {name}")
    return [_as_typed(name, v) for v in value] if isinstance(value, list) else value


def guarded(fn: F) -> F:
    """Turn KoodariError into a one-line message and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            kwargs = {k: _as_typed(k, v) for k, v in kwargs.items()}
            return fn(*args, **kwargs)
        except KoodariError as exc:
            fail(str(exc))
        except DatabaseError as exc:  # a last line of defence: the study's own checks come first
            fail(f"the study could not be read or written ({exc}); nothing more was changed")
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{(exc.strerror or str(exc)).lower()}")
        except KeyboardInterrupt:
            err_console.print("interrupted; everything decided so far is saved")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"koodari {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """koodari: suggest, review and measure the coding of Finnish interviews."""


open_study = actions.open_study


@app.command()
@guarded
def init(
    study: StudyArg,
    corpus: Annotated[str | None, typer.Option(help="Load an embedded corpus, e.g. kainuu-2012.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a new study file (optionally loaded with an embedded corpus)."""
    counts, summary = actions.create_study(study, corpus)
    if as_json:
        print_json({"study": str(study), **counts})
        return
    console.print(
        f"created [bold]{study}[/]"
        + (f" with corpus {corpus}: " + ", ".join(f"{v} {k}" for k, v in summary.items()) if corpus else "")
    )


@app.command()
@guarded
def rescue(
    damaged: Annotated[Path, typer.Argument(metavar="DAMAGED", help="The damaged study file (only read).")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The new study file to write what can be read into.")],
    as_json: JsonOpt = False,
) -> None:
    """Copy what can still be read of a damaged study into a new study file (the damaged file is not changed)."""
    report = actions.rescue(damaged, new)
    if report.unread_wal is not None:
        err_console.print(f"note: {damaged}-wal could not be read ({report.unread_wal}), so the study's last changes, "
                          f"kept in it, are not in {new}; keep both files and rescue again once it can be read (it is "
                          f"read from a copy made beside {new}: that folder needs room for the study)",
                          highlight=False, soft_wrap=True)
    if as_json:
        print_json(report.as_dict())
        return
    table = Table("table", "rows copied", "rows unreadable", title=f"rescued into {new}")
    for name, (copied, lost) in report.tables.items():
        table.add_row(name, str(copied), "some (unknown how many)" if lost is None else str(lost))
    console.print(table)
    if report.complete:
        console.print(f"every row was read; {new} is a complete copy")
    elif any(lost != 0 for _, lost in report.tables.values()):
        console.print(f"the rows marked unreadable are lost from {new}; keep {damaged} (and look for a backup) until "
                      "you have checked what is missing")


@app.command("import")
@guarded
def import_(
    study: StudyArg,
    files: Annotated[list[Path], typer.Argument(help="Transcripts (.txt, .docx, .vtt, .srt) or folders of them.")],
    question: Annotated[str | None, typer.Option(help="Assign every unit to this research question.")] = None,
    analyse: Annotated[bool, typer.Option("--analyse", help="Then lemmatise the new units (koodari analyse).")]
    = False,
    workers: Annotated[int | None, typer.Option(help="--analyse on a local Dask cluster of N processes.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="--analyse on an existing Dask cluster.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import transcripts (speaker turns and themes, cut into analysis units) or REFI-QDA .qdpx/.qdc files."""
    if actions.is_refi(files):
        totals, again = actions.import_refi_files(study, files)
        if as_json:
            print_json(totals)
        else:
            console.print("imported " + ", ".join(f"{v} {k}" for k, v in totals.items())
                          + (f"; {', '.join(again)} already in the study" if again else ""))
        return
    if any(f.is_dir() for f in files):  # a folder: file by file, bad files refused and listed, with progress
        each = run_import_each(study, files, question, err_console)
        data, line = each.as_dict(), (f"imported {each.documents} documents, {each.segments} units"
                                      + (f"; {len(each.skipped)} already in the study" if each.skipped else "")
                                      + (f"; {len(each.refused)} files refused" if each.refused else "")
                                      + (f"; {len(each.ignored)} other files ignored" if each.ignored else ""))
    else:
        summary = actions.import_files(study, files, question)
        data, line = summary.as_dict(), (f"imported {summary.documents} documents, {summary.segments} units"
                                         + (f"; {len(summary.skipped)} already in the study" if summary.skipped
                                            else ""))
    if analyse or workers is not None or scheduler is not None:
        report = run_analyse(study, workers, scheduler, 2000, err_console)
        data["analysis"] = report.as_dict()
        line += (f"; analysed {report.analysed} units, {report.tokens} tokens"
                 + (f" ({len(report.failed)} units failed)" if report.failed else ""))
    unlinked = actions.units_without_question(study)
    if as_json:
        print_json(data)
        return
    console.print(line)
    for theme, count in unlinked.items():
        which = f'--theme "{theme}"' if theme else "--document NAME"
        console.print(f"[yellow]{count} units ({'theme ' + repr(theme) if theme else 'no theme'}) belong to no "
                      f"research question:[/] link them with `koodari assign {study} {which} --question CODE`, "
                      "or choose in `koodari review`", highlight=False)


@app.command()
@guarded
def assign(
    study: StudyArg,
    question: Annotated[str, typer.Option(help="The research question (code or text).")],
    theme: Annotated[str | None, typer.Option(help="Units of this theme (remembered for later imports).")] = None,
    document: Annotated[str | None, typer.Option(help="Units of this document (name or id).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Link units that belong to no research question to one: by their theme, or by their document."""
    changed = actions.assign_question(study, question, theme, document)
    if as_json:
        print_json({"units": changed, "question": question})
    else:
        console.print(f"{changed} units linked to {question}", highlight=False)


@reductions_app.command("import")
@guarded
def reductions_import(
    study: StudyArg,
    csv_file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="reduction,subcategory[,upper,...]")],
    as_json: JsonOpt = False,
) -> None:
    """Import hand-made reductions (CSV: reduction, subcategory; optional original, upper, combining, ...)."""
    result = actions.import_reduction_file(study, csv_file)
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"imported {result.reductions} reductions; {result.categories_created} new categories")
    if result.questions_created:
        check = (" (check the 'question' column's spelling if you meant one the study already had)"
                 if result.had_questions else "")
        console.print(f"new research questions: {', '.join(result.questions_created)}{check}")


@app.command()
@guarded
def tree(
    study: StudyArg,
    action: Annotated[str | None, typer.Argument(
        help="Change the tree: rename PATH NEW | merge PATH... INTO PATH | move PATH --to UPPER | "
             "split PATH --into A,B | retire PATH | undo. Without one: print the tree.")] = None,
    args: Annotated[list[str] | None, typer.Argument(
        help="PATH: T10/upper/…/sub or a short unique name.", show_default=False)] = None,
    question: Annotated[str | None, typer.Option(help="Only this research question (code or text).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, md or csv.")] = "table",
    to: Annotated[str | None, typer.Option("--to", help="move: the category to move under.")] = None,
    into: Annotated[str | None, typer.Option("--into", help="split: the new names, NAME1,NAME2.")] = None,
    coder: Annotated[str, typer.Option(help="Who changes the tree (default: your user name).")] = "",
) -> None:
    """Print the category tree (subcategory → upper → combining, with counts), or change it."""
    if fmt not in ("table", "md", "csv"):
        raise KoodariError(f"unknown format '{fmt}' (table, md, csv)")
    view = actions.tree(study, question, action, args, to, into, coder)
    change, rows = view.change, view.rows
    if change is not None:
        waiting = "".join(f"; {units} units coded by {who} await re-coding (koodari review --coder {who})"
                          for who, units in change.awaiting)
        (console if fmt == "table" else err_console).print(
            f"change {change.event_id}: {change.summary}{waiting}", highlight=False, soft_wrap=True)
    if fmt == "csv":
        sys.stdout.write(to_csv(rows))
    elif fmt == "md":
        sys.stdout.write(to_markdown(rows))
    else:
        for table in to_rich(rows):
            console.print(table)


@app.command()
@guarded
def units(
    study: StudyArg,
    document: Annotated[str | None, typer.Option(help="Only this document (name or id).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the analysis units with speaker, theme and character span."""
    rows = actions.units(study, document)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "doc", "span", "speaker", "theme", "unit", show_lines=False)
    for r in rows:
        table.add_row(
            str(r["id"]), r["document"], f"{r['start']}–{r['end']}", r["speaker"] or "", r["theme"] or "", r["text"]
        )
    console.print(table)


@app.command()
@guarded
def lemmatise(
    text: Annotated[str | None, typer.Option("--text", help="Text to analyse.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A text file to analyse.")] = None,
    pretokenized: Annotated[bool, typer.Option(help="One sentence per line, tokens separated by spaces.")] = False,
    no_normalise: Annotated[bool, typer.Option("--no-normalise", help="Lemmatise tokens as spoken.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Normalise and lemmatise Finnish text offline; one JSON object per sentence with --json (each token with
    its character offsets into the text)."""
    sentences = actions.lemmatise(text, file, pretokenized, normalise=not no_normalise)
    if as_json:
        for sentence in sentences:
            print_json(
                {
                    "tokens": [
                        {"text": t.text, "start": t.start, "end": t.end, "normalised": t.normalised, "lemma": t.lemma,
                         "upos": t.upos} for t in sentence
                    ]
                }
            )
        return
    for sentence in sentences:
        table = Table("token", "normalised", "lemma", "UPOS")
        for t in sentence:
            changed = t.normalised != t.text
            table.add_row(t.text, f"[bold]{t.normalised}[/]" if changed else t.normalised, t.lemma, t.upos)
        console.print(table)


@app.command()
@guarded
def analyse(
    study: StudyArg,
    workers: Annotated[int | None, typer.Option(help="Analyse on a local Dask cluster of this many processes.")]
    = None,
    scheduler: Annotated[str | None, typer.Option(help="Analyse on an existing Dask cluster (tcp://host:8786).")]
    = None,
    batch_tokens: Annotated[int, typer.Option(help="Words per batch sent to a worker.")] = 2000,
    as_json: JsonOpt = False,
) -> None:
    """Normalise and lemmatise every unit not yet analysed (by this pipeline); resumable, on Dask if asked."""
    report = run_analyse(study, workers, scheduler, batch_tokens, err_console)
    if as_json:
        print_json(report.as_dict())
        return
    cached = report.units - report.analysed - len(report.failed)
    console.print(f"analysed {report.analysed} units, {report.tokens} tokens ({cached} already cached)"
                  + (f"; {len(report.failed)} units failed" if report.failed else ""))


@app.command()
@guarded
def train(
    study: StudyArg,
    kind: Annotated[str, typer.Option(help="neighbours (default) or linear.")] = "neighbours",
    folds: Annotated[int, typer.Option(help="Also cross-validate with this many folds (0: skip).")] = 3,
    blocks: Annotated[str, typer.Option(help="both (words and meaning, default), lexical (no word vectors), "
                                        "semantic (meaning only) or sentence (the sentence encoder alone).")] = "both",
    as_json: JsonOpt = False,
) -> None:
    """Train the suggestion model on all coded material and record it as a new model version."""
    record = actions.train(study, kind, folds, blocks)
    if as_json:
        print_json(record)
        return
    m = record["metrics"]
    console.print(
        f"model version {record['version']} ({kind}): {record['examples']} coded examples +"
        f" {record['category_names']} category names + {record['description_sentences']} description sentences,"
        f" {record['classes']} classes, trained in {m['train_seconds']} s"
        + (f"; {folds}-fold top-1 {m['top1']:.2f}, top-3 {m['top3']:.2f}" if m.get("top1") is not None else "")
    )


@app.command()
@guarded
def suggest(
    study: StudyArg,
    text: Annotated[str | None, typer.Option("--text", help="One utterance.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Utterances, one per line.")] = None,
    question: Annotated[str | None, typer.Option(help="Suggest from this research question's tree.")] = None,
    top: Annotated[int, typer.Option(help="How many suggestions.")] = 5,
    level: Annotated[str, typer.Option(help="sub, upper or combining.")] = "sub",
    as_json: JsonOpt = False,
) -> None:
    """Suggest categories for new utterances, with calibrated probabilities and reasons."""
    if (text is None) == (file is None):
        raise KoodariError("give exactly one of --text or --file")
    if text is not None and not text.strip():
        raise KoodariError("--text is empty: give the utterance to suggest categories for")
    found = (actions.suggest_texts(study, [text], question, level, top) if text is not None
             else run_suggest_file(study, file, question, level, top, err_console))
    utterances, results = found.texts, found.results
    if as_json:
        if text is not None:
            print_json([r.as_dict() for r in results[0]])
        else:
            for result in results:
                print_json([r.as_dict() for r in result])
        return
    for utterance, result in zip(utterances, results, strict=True):
        flag = "  [yellow](possibly a new category)[/]" if result and result[0].new else ""
        table = Table("#", "p", "category", "path (sub → upper → combining)", "why",
                      title=f"“{utterance}”{flag}  [dim]model v{found.version}[/]", title_justify="left")
        for i, r in enumerate(result, 1):
            table.add_row(str(i), f"{r.probability:.2f}", r.category, " → ".join(p or "–" for p in r.path), r.reason)
        console.print(table)


@app.command()
@guarded
def search(
    study: StudyArg,
    query: Annotated[str, typer.Argument(help="What to look for: words or a thought, in Finnish.")],
    question: Annotated[str | None, typer.Option(help="Only the units of this research question.")] = None,
    coded: Annotated[bool, typer.Option("--coded", help="Only coded units.")] = False,
    uncoded: Annotated[bool, typer.Option("--uncoded", help="Only uncoded units.")] = False,
    top: Annotated[int, typer.Option(help="How many units.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Find analysis units by meaning and by words."""
    if coded and uncoded:
        raise KoodariError("give at most one of --coded and --uncoded")
    hits = actions.search(study, query, question, True if coded else False if uncoded else None, top)
    if as_json:
        print_json(hits)
        return
    table = Table("score", "unit", "document", "speaker", "text", "codes", title=f"“{query}”", title_justify="left")
    for h in hits:
        table.add_row(f"{h['score']:.2f}", str(h["unit"]), h["document"], h["speaker"] or "", h["text"],
                      ", ".join(h["codes"]))
    console.print(table)


@app.command("group")
@guarded
def group_(
    study: StudyArg,
    question: Annotated[str | None, typer.Option(help="Only this research question.")] = None,
    uncoded: Annotated[bool, typer.Option("--uncoded", help="Group uncoded units instead of reductions.")] = False,
    threshold: Annotated[float, typer.Option(help="Distance (0–2) at which groups stop merging; lower: tighter.")]
    = 0.6,
    as_json: JsonOpt = False,
) -> None:
    """Group reductions (or uncoded units) that mean the same into candidate subcategories."""
    result = actions.group(study, question, uncoded, threshold)
    if as_json:
        print_json(result)
        return
    console.print(f"{len(result['groups'])} candidate groups of {result['items']} {result['of']} "
                  f"(threshold {threshold:g}; {result['ungrouped']} left on their own)", highlight=False)
    for i, g in enumerate(result["groups"], 1):
        upper = f" → closest upper category: {g['upper']} ({g['upper_score']:.2f})" if g["upper"] else ""
        console.print(f"\n[bold]{i}. {g['name']}[/] [dim]({g['size']} members, cohesion {g['cohesion']:.2f})[/]"
                      f"{upper}", highlight=False)
        for m in g["members"]:
            console.print(f"   - {m['text']}" + (f" [dim]({m['category']})[/]" if m.get("category") else ""),
                          highlight=False)


@app.command()
@guarded
def evaluate(
    study: StudyArg,
    folds: Annotated[int, typer.Option(help="Number of folds.")] = 5,
    level: Annotated[str, typer.Option(help="sub, upper or combining.")] = "sub",
    kind: Annotated[str, typer.Option(help="neighbours or linear.")] = "neighbours",
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cross-validate the suggestions on the study's own coded material, with a learning curve."""
    result = actions.evaluate(study, folds, level, kind, as_of)
    summary = {**result.summary(), "level": level, "folds": folds, "learning_curve": result.learning_curve}
    if as_json:
        print_json(summary)
        return
    table = Table("n", "top-1", "top-3", "macro F1", "Cohen's κ", title=f"{folds}-fold cross-validation, {level} level")
    if summary["n"]:
        table.add_row(str(summary["n"]), f"{summary['top1']:.3f}", f"{summary['top3']:.3f}",
                      f"{summary['macro_f1']:.3f}", f"{summary['kappa']:.3f}")
    console.print(table)
    curve = Table("coded examples", "top-1", title="learning curve")
    for point in result.learning_curve:
        curve.add_row(str(point["examples"]), f"{point['top1']:.3f}")
    console.print(curve)
    if result.learning_curve:
        console.print(line_plot([p["examples"] for p in result.learning_curve],
                                [p["top1"] for p in result.learning_curve], "top-1 vs coded examples"))


@app.command()
@guarded
def review(
    study: StudyArg,
    coder: Annotated[str, typer.Option(help="Who is coding (codes are kept per coder; coders work blind).")] = "",
    document: Annotated[str | None, typer.Option(help="Only this document (name or id).")] = None,
    question: Annotated[str | None, typer.Option(help="Only units of this research question.")] = None,
    order: Annotated[str, typer.Option(help="document, or uncertain (least sure first).")] = "document",
    retrain_every: Annotated[int, typer.Option(help="Retrain in the background after this many decisions.")] = 20,
    resolve: Annotated[str | None, typer.Option(help="A,B: walk A's and B's disagreements; record the agreed"
                                                     " code as coder `consensus`.")] = None,
) -> None:
    """Code uncoded units one at a time: accept or correct the suggestions (Enter, 1-9, /, n, r, +, m, s, u, q; ?
    lists the keys)."""
    with open_study(study) as s:
        session = actions.review_session(s, coder, document, question, order, retrain_every, resolve)
        with review_tui.Keys() as keys:
            review_tui.run_review(session, console, keys)


@app.command()
@guarded
def serve(
    study: StudyArg,
    coder: Annotated[str, typer.Option(help="Who is coding (default: your login name); coders work blind.")] = "",
    port: Annotated[int, typer.Option(help="The port to listen on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(help="The address to listen on; anything but loopback requires the token"
                                           " printed at start.")] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the review page in the web browser.")] = False,
    retrain_every: Annotated[int, typer.Option(help="Retrain in the background after this many decisions.")] = 20,
) -> None:
    """Review, read transcripts, see the tree, agreement and model versions in the browser (a local web app)."""
    web_server.serve(study, coder, host, port, open_browser, retrain_every)


@app.command()
@guarded
def agree(
    study: StudyArg,
    coders: Annotated[str | None, typer.Option(help="Comma-separated; `model` = the model, cross-fitted.")] = None,
    level: Annotated[str, typer.Option(help="sub, upper or combining.")] = "sub",
    question: Annotated[str | None, typer.Option(help="Only units of this research question.")] = None,
    limit: Annotated[int, typer.Option(help="Disagreements to list in the table view.")] = 10,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Inter-coder agreement on analysis units: percent, Cohen's κ, Fleiss' κ, Krippendorff's α (95% CI)."""
    names = [c.strip() for c in coders.split(",") if c.strip()] if coders else None
    result = actions.agree(study, names, level, question, as_of)
    if as_json:
        print_json(result)
        return
    summary = Table("units", "percent", "Cohen's κ", "Fleiss' κ", "Krippendorff's α", "α 95% CI",
                    title=f"agreement of {', '.join(result['coders'])} ({level} level)")
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    ci = result["alpha_ci"]
    summary.add_row(str(result["n_units"]), f"{result['percent']:.1f} %", fmt(result["cohen_kappa"]),
                    fmt(result["fleiss_kappa"]), fmt(result["krippendorff_alpha"]),
                    "–" if not ci else f"{ci[0]:.3f} – {ci[1]:.3f}")
    console.print(summary)
    cats = Table("category", "uses", "agreement", title="per category")
    for row in result["per_category"][:15]:
        cats.add_row(row["category"], str(row["uses"]), f"{row['agreement']:.2f}")
    console.print(cats)
    dis = Table("unit", "text", *result["coders"], title="disagreements, biggest confusions first")
    for row in result["disagreements"][:limit]:
        text = textwrap.shorten(row["text"], 80, placeholder=" …")  # whole words, the cut shown
        dis.add_row(row["unit"], text, *[row["codes"].get(c, "–") for c in result["coders"]])
    console.print(dis)


@app.command()
@guarded
def history(
    study: StudyArg,
    tree_changes: Annotated[bool, typer.Option("--tree", help="The changes of the category tree instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """How the model versions changed: cross-validated scores and agreement with each coder (--tree: the tree)."""
    if tree_changes:
        return _tree_history(study, as_json)
    with open_study(study) as s:
        versions = [{"version": r.id, "created_at": r.created_at, "kind": r.kind,
                     **{k: v for k, v in r.training.items() if k in ("examples", "classes", "coders")},
                     "metrics": r.metrics} for r in s.model_versions()]
    if as_json:
        print_json(versions)
        return
    if not versions:
        raise KoodariError("no model versions yet (koodari train)", study)
    coders = sorted({c for v in versions for c in v["metrics"].get("agreement_with_coders", {})})
    table = Table("version", "created", "kind", "examples", "top-1", "top-3", "κ", *[f"κ vs {c}" for c in coders],
                  title="model versions")
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for v in versions:
        m = v["metrics"]
        per = m.get("agreement_with_coders", {})
        table.add_row(str(v["version"]), v["created_at"][:19], v["kind"], str(v.get("examples", "")),
                      fmt(m.get("top1")), fmt(m.get("top3")), fmt(m.get("kappa")),
                      *[fmt(per.get(c, {}).get("kappa")) for c in coders])
    console.print(table)
    scored = [v for v in versions if v["metrics"].get("top1") is not None]
    if len(scored) >= 2:
        console.print(line_plot([v["version"] for v in scored], [v["metrics"]["top1"] for v in scored],
                                "cross-validated top-1 by model version"))


def _tree_history(study: Path, as_json: bool) -> None:
    rows = actions.tree_history(study)
    if as_json:
        print_json(rows)
        return
    if not rows:
        raise KoodariError("the tree has not been changed (koodari tree STUDY rename|merge|move|split|retire)", study)
    table = Table("change", "when (UTC)", "who", "what", title="changes of the category tree")
    for r in rows:
        table.add_row(str(r["change"]), r["at"][:23], r["who"], r["summary"])
    console.print(table)


@app.command("export")
@guarded
def export_(
    study: StudyArg,
    kind: Annotated[str, typer.Argument(help="qdpx, qdc (REFI-QDA); csv, xlsx (coded units); tree-md, tree-docx.")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    pseudonymise: Annotated[str | None, typer.Option(help="Names to replace in quotes: 'Pekka=P1,Kajaani=[paikka]'.")]
    = None,
    examples: Annotated[bool, typer.Option(help="tree-md/tree-docx: one example quote per category.")] = False,
    question: Annotated[str | None, typer.Option(help="tree-md/tree-docx: only this research question.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export for QDA tools (REFI-QDA .qdpx/.qdc) and for the report (units as CSV/XLSX, the tree as MD/DOCX)."""
    written = actions.export_study(study, kind, out, force, pseudonymise, examples, question)
    if written.refi is None:
        count, names = written.rows, written.unreplaced_names
        if names:
            err_console.print(f"warning: quotes in {out} still contain names or places: {', '.join(names[:30])}"
                              + (" …" if len(names) > 30 else "") + " (--pseudonymise NAME=ALIAS,...)",
                              highlight=False)
        if as_json:
            print_json({"rows": count, "unreplaced_names": names})
        else:
            console.print(f"wrote {out}: {count} rows")
        return
    summary = written.refi
    if as_json:
        print_json(summary.as_dict())
        return
    note = (f"; {summary.unplaced} codings without a unit in a transcript (CSV or corpus quotes) are in a source"
            " of their own" if summary.unplaced and kind == "qdpx" else "")
    console.print(f"wrote {out}: {summary.codes} codes"
                  + (f", {summary.sources} sources, {summary.selections} coded selections" if kind == "qdpx" else "")
                  + note)


@app.command()
@guarded
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to write the demo study.")] = Path("koodari-demo"),
) -> None:
    """The main job on the embedded default: the seed study, a demo transcript, and what koodari does."""
    run_demo(directory, console)


if __name__ == "__main__":
    app()
