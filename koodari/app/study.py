"""Actions on the study's material: create, import, assign, the tree and its changes, exports, the demo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from koodari.app.shared import StudyRef, opened
from koodari.corpus import corpus_dir, demo_transcript, load_corpus
from koodari.errors import KoodariError
from koodari.importer import FolderImportSummary, ImportSummary, import_each, import_transcripts, transcript_files
from koodari.interop import ExportSummary, export, import_refi
from koodari.reductions import import_reductions
from koodari.reports import REPORT_KINDS, export_report
from koodari.store import Study
from koodari.store.rescue import RescueReport, rescue_study
from koodari.tree import tree_rows
from koodari.treeops import (
    TreeChange,
    TreeChangeConflict,
    apply_action,
    history_rows,
    merge,
    move,
    rename,
    resolve,
    retire,
    split,
    undo,
)
from koodari.views import unit_rows

EXPORT_FORMATS = ("qdpx", "qdc", *REPORT_KINDS)
REFI_SUFFIXES = (".qdpx", ".qdc")
DEMO_CORPUS = "kainuu-2012"


# -- the study and its material --------------------------------------------------------------------


def create_study(path: Path, corpus: str | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """`koodari init`: a new study file, optionally loaded with an embedded corpus; (counts, corpus summary).
    Nothing is left behind when loading the corpus fails."""
    if corpus:
        corpus_dir(corpus)  # unknown corpus: fail before creating anything
    s = Study.create(path)
    try:
        summary = load_corpus(s, corpus) if corpus else {}
    except BaseException:
        s.close()
        path.unlink(missing_ok=True)
        raise
    counts = s.counts()
    s.close()
    return counts, summary


def is_refi(files: list[Path]) -> bool:
    """True when ``files`` are REFI-QDA projects or codebooks (which are imported on their own)."""
    refi = [f for f in files if f.suffix.lower() in REFI_SUFFIXES]
    if refi and len(refi) != len(files):
        raise KoodariError("import REFI-QDA files on their own, not mixed with transcripts")
    return bool(refi)


def import_refi_files(study: StudyRef, files: list[Path]) -> tuple[dict[str, int], list[str]]:
    """`koodari import STUDY X.qdpx`: every file in one transaction; (totals, the files already imported)."""
    totals: dict[str, int] = {}
    again: list[str] = []
    with opened(study) as s, s.transaction():
        for f in files:
            imported = import_refi(s, f)
            if imported.already_imported:
                again.append(str(f))
            for key, value in imported.as_dict().items():
                totals[key] = totals.get(key, 0) + value
    return totals, again


def import_files(study: StudyRef, files: list[Path], question: str | None = None) -> ImportSummary:
    """`koodari import STUDY FILES`: transcripts, all or nothing."""
    with opened(study) as s:
        return import_transcripts(s, files, question)


def import_folder(study: StudyRef, files: list[Path], question: str | None = None,
                  started: Callable[[int], None] | None = None,
                  done: Callable[[Path], None] | None = None) -> FolderImportSummary:
    """`koodari import STUDY FOLDER/`: file by file, bad files refused and listed; ``started(files)`` once,
    ``done(file)`` after each."""
    with opened(study) as s:
        if started is not None:
            started(len(transcript_files(files)[0]))
        return import_each(s, files, question, done or (lambda _: None))


def units_without_question(study: StudyRef) -> dict[str | None, int]:
    """Units (by theme) that belong to no research question, when the study has several questions."""
    with opened(study) as s:
        return s.units_without_question() if len(s.questions()) > 1 else {}


def assign_question(study: StudyRef, question: str, theme: str | None = None, document: str | None = None) -> int:
    """`koodari assign`: link the unlinked units of a theme or a document to a question; the units changed."""
    if (theme is None) == (document is None):
        raise KoodariError("name either --theme or --document")
    with opened(study) as s:
        question_id = s.require_question(question)
        document_id = s.document_id(document) if document is not None else None
        return s.assign_question(question_id, theme=theme, document_id=document_id)


def rescue(damaged: Path, new: Path) -> RescueReport:
    """`koodari rescue`: what can be read of a damaged study, copied into a new study file (checked by opening it)."""
    report = rescue_study(damaged, new)
    with opened(new):
        pass
    return report


def import_reduction_file(study: StudyRef, csv_file: Path):
    """`koodari reductions import`: hand-made reductions from a CSV file."""
    with opened(study) as s:
        return import_reductions(s, csv_file)


def units(study: StudyRef, document: str | None = None) -> list[dict[str, Any]]:
    """`koodari units`: the analysis units with speaker, theme and span."""
    with opened(study) as s:
        return unit_rows(s, document)


# -- the category tree -----------------------------------------------------------------------------


@dataclass
class TreeView:
    """The tree's rows after an optional change (``change``: what it did), for one question or all."""

    rows: list
    question: str | None
    change: Any = None


def tree(study: StudyRef, question: str | None = None, action: str | None = None, args: list[str] | None = None,
         to: str | None = None, into: str | None = None, coder: str = "") -> TreeView:
    """`koodari tree`: the tree, after a change (rename, merge, move, split, retire, undo) when asked."""
    with opened(study) as s:
        s.require_question(question)
        change = apply_action(s, action, args or [], question, to, into, coder) if action else None
        if change is not None and question is None and change.question_id is not None:
            question = next(q.code for q in s.questions() if q.id == change.question_id)
        return TreeView(tree_rows(s, question), question, change)


TREE_EDITS = ("rename", "merge", "move", "split", "retire", "undo")


def edit_tree(study: StudyRef, who: str, action: str, category: int | None = None, name: str = "",
              target: str = "", names: str = "", seen: int | None = None, undoes: int | None = None) -> TreeChange:
    """A tree change on one category, named by its id (the web's Tree page). ``seen``: the last change the
    editor saw (a change by someone else since, to the same categories, is a conflict); ``undoes``: the change
    an undo was offered for (refused when another one is last now)."""
    with opened(study) as s:
        if action == "undo":
            with s.transaction():  # the check and the undo in one transaction
                last = s.undoable_tree_event()
                if last is not None and undoes is not None and last.id != undoes:
                    raise TreeChangeConflict(
                        f"the tree changed meanwhile: the last change is now {last.id} by {last.who}"
                        f" ({last.summary}); nothing changed, look again")
                return undo(s, who)
        if action not in TREE_EDITS or category is None:
            raise KoodariError(f"unknown tree change '{action}' ({', '.join(TREE_EDITS)})")
        cat = s.category(category)
        path = s.place(category)
        question = next(q.code for q in s.questions() if q.id == cat.question_id)
        if resolve(s, path, cat.question_id).id != category:  # e.g. a '/' in an imported name
            raise KoodariError(f"'{cat.name}' cannot be named by its path; change it with koodari tree")
        common: dict[str, Any] = {"who": who, "question": question, "expected_event": seen}
        if action == "rename":
            return rename(s, path, name, **common)
        if action == "merge":
            return merge(s, [path], target, **common)
        if action == "move":
            return move(s, path, target, **common)
        if action == "split":
            return split(s, path, names.split(","), **common)
        return retire(s, path, **common)


def tree_history(study: StudyRef) -> list[dict[str, Any]]:
    """`koodari history --tree`: the changes of the category tree."""
    with opened(study) as s:
        return history_rows(s)


# -- exchange and reports ------------------------------------------------------------------------------


@dataclass
class Exported:
    """What an export wrote: a REFI-QDA summary, or a report's rows and the names left in its quotes."""

    kind: str
    refi: ExportSummary | None = None
    rows: int = 0
    unreplaced_names: list[str] = field(default_factory=list)


def export_study(study: StudyRef, kind: str, out: Path, force: bool = False, pseudonymise: str | None = None,
                 examples: bool = False, question: str | None = None) -> Exported:
    """`koodari export`: REFI-QDA (qdpx, qdc), coded units (csv, xlsx) or the tree (tree-md, tree-docx)."""
    if kind not in EXPORT_FORMATS:
        raise KoodariError(f"unknown export format '{kind}' ({', '.join(EXPORT_FORMATS)})")
    with opened(study) as s:
        if kind in REPORT_KINDS:
            rows, names = export_report(s, kind, out, pseudonymise, examples, question, force)
            return Exported(kind, rows=rows, unreplaced_names=names)
        return Exported(kind, refi=export(s, kind, out, force))


# -- the demo ------------------------------------------------------------------------------------------


def build_demo_study(directory: Path) -> Path:
    """Create DIR/kainuu-2012.koodari afresh from the embedded corpus and import the demo transcript."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{DEMO_CORPUS}.koodari"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    transcript, held_out = demo_transcript(DEMO_CORPUS)
    with Study.create(path) as study:
        load_corpus(study, DEMO_CORPUS, exclude_quotes=held_out)
        import_transcripts(study, [transcript])
    return path
