"""The terminal side of long runs (analysing an archive, importing a folder): rich progress bars on stderr and
the summary of what was refused. The work itself is in ``archive`` and ``importer``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from koodari.archive import AnalysisReport


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeRemainingColumn(), console=console, transient=False,
                    disable=not console.is_terminal)


def run_analyse(path: Path, workers: int | None, scheduler: str | None, batch_tokens: int,
                console: Console) -> AnalysisReport:
    """`koodari analyse`: in-process, or on Dask; failed units are listed on ``console`` and skipped."""
    from koodari.archive import analyse_study, dask_client
    from koodari.errors import KoodariError
    from koodari.nlp.pipeline import FinnishPipeline
    from koodari.store import Study

    if batch_tokens < 1:
        raise KoodariError("--batch-tokens must be at least 1")
    if workers is not None and scheduler is not None:
        raise KoodariError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if workers is not None and workers < 1:
        raise KoodariError("--workers must be at least 1")
    with Study.open(path) as study:
        pipeline = FinnishPipeline()
        units, words = study.analysis_backlog(pipeline.id)
        with _progress(console) as bar:
            task = bar.add_task("analysing (words)", total=words, note="")
            tokens = [0]

            def advance(done: int, analysed: int) -> None:
                tokens[0] += analysed
                bar.update(task, advance=done, note=f"{tokens[0]:,} tokens")

            if units and (workers is not None or scheduler is not None):
                with dask_client(workers, scheduler) as client:
                    report = analyse_study(study, pipeline, client, batch_tokens, advance)
            else:
                report = analyse_study(study, pipeline, None, batch_tokens, advance)
    for failure in report.failed:
        console.print(f"[yellow]skipped[/] {failure}", highlight=False, soft_wrap=True)
    return report


def run_import_each(path: Path, files: list[Path], question: str | None, console: Console):
    """`koodari import STUDY FOLDER/`: file by file with a progress bar; the refused files and why on ``console``."""
    from koodari.importer import import_each, transcript_files
    from koodari.store import Study

    with Study.open(path) as study, _progress(console) as bar:
        task = bar.add_task("importing (files)", total=len(transcript_files(files)[0]), note="")
        summary = import_each(study, files, question, lambda done: bar.update(task, advance=1, note=done.name))
    if summary.refused:
        console.print(f"[yellow]refused {len(summary.refused)} files[/] (nothing of them is in the study):",
                      highlight=False)
        for file, reason in summary.refused:
            console.print(f"  {file}: {reason}", highlight=False, soft_wrap=True)
    return summary
