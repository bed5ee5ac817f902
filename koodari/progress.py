"""The terminal side of long runs (analysing an archive, importing a folder, suggesting for a file of
utterances): rich progress bars on stderr and the summary of what was refused. The work itself is in
``app.analyse``, ``app.import_folder`` and ``app.suggest_file``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from koodari import app as actions
from koodari.archive import AnalysisReport
from koodari.importer import FolderImportSummary


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeRemainingColumn(), console=console, transient=False,
                    disable=not console.is_terminal)


def run_analyse(path: Path, workers: int | None, scheduler: str | None, batch_tokens: int,
                console: Console) -> AnalysisReport:
    """`koodari analyse`: in-process, or on Dask; failed units are listed on ``console`` and skipped."""
    with _progress(console) as bar:
        task = bar.add_task("analysing (words)", total=None, note="")
        tokens = [0]

        def advance(done: int, analysed: int) -> None:
            tokens[0] += analysed
            bar.update(task, advance=done, note=f"{tokens[0]:,} tokens")

        report = actions.analyse(path, workers, scheduler, batch_tokens,
                                 started=lambda words: bar.update(task, total=words), progress=advance)
    for failure in report.failed:
        console.print(f"[yellow]skipped[/] {failure}", highlight=False, soft_wrap=True)
    return report


def run_suggest_file(path: Path, file: Path, question: str | None, level: str, top: int,
                     console: Console) -> actions.Suggestions:
    """`koodari suggest --file`: the sentence encoder's progress through the utterances on ``console``."""
    with _progress(console) as bar:
        task = bar.add_task("embedding utterances (sentence encoder)", total=None, note="")
        found = actions.suggest_file(path, file, question, level, top,
                                     progress=lambda done, total: bar.update(task, completed=done, total=total))
    return found


def run_import_each(path: Path, files: list[Path], question: str | None, console: Console) -> FolderImportSummary:
    """`koodari import STUDY FOLDER/`: file by file with a progress bar; the refused files and why on ``console``."""
    with _progress(console) as bar:
        task = bar.add_task("importing (files)", total=None, note="")
        summary = actions.import_folder(path, files, question, started=lambda files: bar.update(task, total=files),
                                        done=lambda done: bar.update(task, advance=1, note=done.name))
    if summary.refused:
        console.print(f"[yellow]refused {len(summary.refused)} files[/] (nothing of them is in the study):",
                      highlight=False)
        for file, reason in summary.refused:
            console.print(f"  {file}: {reason}", highlight=False, soft_wrap=True)
    return summary
