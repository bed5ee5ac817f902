"""Analysing a whole archive: units in batches, computed in-process or on a Dask cluster, written by one writer.

Workers only compute (tokenise, normalise, lemmatise a batch of units and serialise the rows); the client is
the study's only writer and commits each finished batch in its own transaction as it arrives. A run that is
killed loses at most the batches in flight: the next run asks the study what is still missing and resumes.

Each worker process loads the Finnish models once (a per-process cache), never per batch, and runs torch on
one thread. The cluster can be a ``LocalCluster`` of worker processes or an existing one (``dask scheduler``
and ``dask worker`` on other machines, koodari and its models installed there); the study file stays local.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from koodari.errors import KoodariError
from koodari.nlp.analysed import AnalysedText
from koodari.nlp.cache import unit_row
from koodari.nlp.pipeline import FinnishPipeline
from koodari.store import Study

DEFAULT_BATCH_TOKENS = 2000
MAX_UNIT_CHARS = 50_000  # an analysis unit is a sentence or a clause; this much text without a cut is not one
CONNECT_TIMEOUT_S = 5
WARM_UP = "Ladataan mallit."
WORKERS_TIMEOUT_S = 60

Unit = tuple[int, str, int]  # segment id, text, offset of the unit in its document
Row = tuple[int, str, str, str]  # segment id, tokens JSON, normalised text, lemmas


@dataclass(frozen=True)
class PipelineConfig:
    """What a worker needs to build the same pipeline as the client (its models are its own copy)."""

    normalise: bool
    dictionary_backoff: bool
    expected_id: str

    @classmethod
    def of(cls, pipeline: FinnishPipeline) -> PipelineConfig:
        return cls(pipeline.normalise, pipeline.dictionary_backoff, pipeline.id)


@dataclass
class BatchResult:
    rows: list[Row]
    tokens: int
    failures: list[tuple[int, str]]
    pipeline_id: str
    worker: str  # host:pid of the process that computed it
    model_loads: int  # how many times that process has loaded the models so far
    seconds: float


@dataclass
class Failure:
    unit: int
    document: str
    seq: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "document": self.document, "seq": self.seq, "reason": self.reason}

    def __str__(self) -> str:
        return f"unit {self.unit} ({self.document}, #{self.seq + 1}): {self.reason}"


@dataclass
class AnalysisReport:
    units: int = 0  # units in the study
    analysed: int = 0  # units analysed and committed in this run
    tokens: int = 0
    batches: int = 0
    failed: list[Failure] = field(default_factory=list)
    model_loads: dict[str, int] = field(default_factory=dict)  # per worker process: loads seen
    workers_lost: int = 0  # batches the cluster had to retry or split because a worker died
    seconds: float = 0.0
    compute_seconds: float = 0.0  # summed over the batches: analysing, models already loaded
    # the units' sentence embeddings made meanwhile by another process (koodari.app.ahead): "done", "stopped" (out
    # of time: the rest are made when asked for), "failed", "not started" (no model using the encoder, one core)
    embedded_ahead: str = "not started"

    def as_dict(self) -> dict[str, Any]:
        return {
            "analysed": self.analysed,
            "units": self.units,
            "tokens": self.tokens,
            "batches": self.batches,
            "failed": [f.as_dict() for f in self.failed],
            "worker_processes": len(self.model_loads),
            "model_loads": sum(self.model_loads.values()),
            "seconds": round(self.seconds, 3),
            "compute_seconds": round(self.compute_seconds, 3),
            "embedded_ahead": self.embedded_ahead,
        }


# -- the computation (runs in a worker process, or in-process) ---------------------------------


def analysis_row(segment_id: int, tokens: list, offset: int) -> Row:
    """A unit's analysis as stored in ``segment_nlp``: token offsets into the document (as ``nlp.cache``)."""
    return unit_row(segment_id, AnalysedText("", tuple(tokens)).placed(offset))


def compute_batch(pipeline: FinnishPipeline, units: list[Unit]) -> tuple[list[Row], int, list[tuple[int, str]]]:
    """Analyse a batch in one call; when that fails, unit by unit, so one bad unit fails alone."""
    try:
        analysed = pipeline.analyse_many([text for _, text, _ in units])
        results: list[list | Exception] = list(analysed)
    except KoodariError:  # the models cannot be loaded: nothing can be analysed here
        raise
    except Exception:  # noqa: BLE001 - find the unit that fails
        results = []
        for _, text, _ in units:
            try:
                results.append(pipeline.analyse_many([text])[0])
            except KoodariError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported per unit, the run goes on
                results.append(exc)
    rows, failures, tokens = [], [], 0
    for (segment_id, _, offset), result in zip(units, results, strict=True):
        if isinstance(result, Exception):
            failures.append((segment_id, f"analysis failed ({type(result).__name__}: {result})"[:300]))
        else:
            rows.append(analysis_row(segment_id, result, offset))
            tokens += len(result)
    return rows, tokens, failures


_PIPELINES: dict[tuple[bool, bool], FinnishPipeline] = {}
_LOADS = 0


def worker_pipeline(config: PipelineConfig) -> FinnishPipeline:
    """This process's pipeline, loaded once (torch, if its models need it, on one thread: one worker process per
    core; koodari's own lemmatizer runs without torch)."""
    global _LOADS
    key = (config.normalise, config.dictionary_backoff)
    if key not in _PIPELINES:
        pipeline = FinnishPipeline(normalise=config.normalise, dictionary_backoff=config.dictionary_backoff)
        pipeline.analyse_many([WARM_UP])  # load the models now, once per process
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(1)
        _PIPELINES[key] = pipeline
        _LOADS += 1
    return _PIPELINES[key]


def analyse_on_worker(config: PipelineConfig, units: list[Unit]) -> BatchResult:
    """The Dask task: analyse one batch with this process's pipeline; nothing is written here."""
    pipeline = worker_pipeline(config)
    if pipeline.id != config.expected_id:  # different models on this machine: its lemmas would differ
        return BatchResult([], 0, [], pipeline.id, _where(), _LOADS, 0.0)
    started = time.perf_counter()
    rows, tokens, failures = compute_batch(pipeline, units)
    return BatchResult(rows, tokens, failures, pipeline.id, _where(), _LOADS, time.perf_counter() - started)


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# -- the client: plan batches, send them out, write what comes back ---------------------------


def plan_batches(study: Study, pipeline_id: str, batch_tokens: int, report: AnalysisReport,
                 page: int = 2000) -> Iterator[tuple[list[Unit], int, dict[int, tuple[str, int]]]]:
    """Batches of units still to analyse, about ``batch_tokens`` words each, read from the study page by page.

    Yields (units, words, {unit id: (document, seq)}); units too long to be one analysis unit are reported
    as failures and never sent.
    """
    after = 0
    units: list[Unit] = []
    where: dict[int, tuple[str, int]] = {}
    words = 0
    while True:
        rows = study.units_to_analyse(pipeline_id, after, page)
        if not rows:
            break
        after = rows[-1]["id"]
        for row in rows:
            if len(row.text) > MAX_UNIT_CHARS:
                report.failed.append(Failure(row.id, row.document, row.seq,
                                             f"{len(row.text):,} characters without a sentence or clause end "
                                             f"(at most {MAX_UNIT_CHARS:,} in one unit); not analysed"))
                continue
            units.append((row.id, row.text, row.char_start))
            where[row.id] = (row.document, row.seq)
            words += len(row.text.split())
            if words >= batch_tokens:
                yield units, words, where
                units, words, where = [], 0, {}
    if units:
        yield units, words, where


ProgressFn = Callable[[int, int], None]  # (words done, tokens analysed) of one batch


def analyse_study(study: Study, pipeline: FinnishPipeline, client: Any = None,
                  batch_tokens: int = DEFAULT_BATCH_TOKENS, progress: ProgressFn | None = None) -> AnalysisReport:
    """Analyse every unit not yet analysed by ``pipeline``: in-process, or on a ``distributed.Client``."""
    if batch_tokens < 1:
        raise KoodariError("--batch-tokens must be at least 1")
    report = AnalysisReport(units=study.counts()["segments"])
    started = time.perf_counter()
    batches = plan_batches(study, pipeline.id, batch_tokens, report)
    if client is None:
        for i, (units, words, where) in enumerate(batches):
            if i == 0:
                pipeline.analyse_many([WARM_UP])  # load the models before the clock starts, as a worker does
            batch_started = time.perf_counter()
            rows, tokens, failures = compute_batch(pipeline, units)
            result = BatchResult(rows, tokens, failures, pipeline.id, _where(), 1,
                                 time.perf_counter() - batch_started)
            _commit(study, pipeline.id, result, where, words, report, progress)
    else:
        _run_on_cluster(study, pipeline, client, batches, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def _commit(study: Study, pipeline_id: str, result: BatchResult, where: dict[int, tuple[str, int]], words: int,
            report: AnalysisReport, progress: ProgressFn | None) -> None:
    """The one writer: a finished batch in its own transaction."""
    if result.pipeline_id != pipeline_id:
        raise KoodariError(f"worker {result.worker} has other Finnish models (pipeline {result.pipeline_id}, this "
                           f"koodari has {pipeline_id}); install the same koodari and models on every worker")
    if result.rows:
        study.store_analyses(pipeline_id, result.rows)
    report.analysed += len(result.rows)
    report.tokens += result.tokens
    report.batches += 1
    report.compute_seconds += result.seconds
    report.model_loads[result.worker] = max(report.model_loads.get(result.worker, 0), result.model_loads)
    for unit, reason in result.failures:
        document, seq = where.get(unit, ("?", -1))
        report.failed.append(Failure(unit, document, seq, reason))
    if progress is not None:
        progress(words, result.tokens)


def _run_on_cluster(study: Study, pipeline: FinnishPipeline, client: Any, batches: Iterator, report: AnalysisReport,
                    progress: ProgressFn | None) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    config = PipelineConfig.of(pipeline)
    queue = as_completed(loop=client.loop, with_results=False)
    pending: dict[Any, tuple[list[Unit], int, dict[int, tuple[str, int]]]] = {}

    def submit(batch: tuple[list[Unit], int, dict[int, tuple[str, int]]]) -> None:
        units = batch[0]
        future = client.submit(analyse_on_worker, config, units, pure=False,
                               key=f"koodari-analyse-{units[0][0]}-{units[-1][0]}-{time.monotonic_ns()}")
        pending[future] = batch
        queue.add(future)

    window = [0, 0]  # batches to keep in flight (3 per worker thread), batches since it was last asked for

    def fill() -> None:
        if window[1] % 25 == 0:  # workers may join or leave an existing cluster
            window[0] = max(4, 3 * sum(client.nthreads().values()))
        window[1] += 1
        while len(pending) < window[0]:
            batch = next(batches, None)
            if batch is None:
                return
            submit(batch)

    try:
        fill()
        for future in queue:
            units, words, where = pending.pop(future)
            try:
                result = future.result()
            except KilledWorker:
                # workers died on this batch again and again: its units one by one, then give up on the one
                report.workers_lost += 1
                if len(units) > 1:
                    for unit in units:
                        submit(([unit], len(unit[1].split()), {unit[0]: where[unit[0]]}))
                else:
                    document, seq = where[units[0][0]]
                    report.failed.append(Failure(units[0][0], document, seq, "a worker died analysing this unit"))
                    if progress is not None:
                        progress(words, 0)
                continue
            finally:
                future.release()
            _commit(study, pipeline.id, result, where, words, report, progress)
            fill()
    except KoodariError:
        raise
    except Exception as exc:  # the scheduler went away, or the task could not run at all
        raise KoodariError(_cluster_problem(exc, report)) from exc


def _cluster_problem(exc: BaseException, report: AnalysisReport) -> str:
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError

    if isinstance(exc, CancelledError | CommClosedError | ConnectionError):  # killed or unreachable scheduler
        what = "lost the connection to the Dask scheduler"
    else:
        reason = " ".join(str(exc).split())[:200]
        what = f"the Dask cluster failed ({type(exc).__name__}{': ' + reason if reason else ''})"
    return (f"{what}; the {report.analysed} units analysed in this run are saved; run `koodari analyse` again to "
            "resume")


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on a new LocalCluster of ``workers`` processes, or on the cluster at ``scheduler``."""
    if workers is not None and scheduler is not None:
        raise KoodariError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if workers is not None and workers < 1:
        raise KoodariError("--workers must be at least 1")
    import logging

    import dask
    from distributed import Client, LocalCluster

    for name in ["distributed", "tornado", "bokeh", *logging.root.manager.loggerDict]:
        if name.split(".")[0] in ("distributed", "tornado", "bokeh"):  # lost workers and schedulers are handled
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)  # here: no tracebacks for the researcher
    with dask.config.set({"distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT_S}s",
                          "distributed.admin.log-length": 0}):
        if scheduler is not None:
            _probe(scheduler)
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise KoodariError(f"cannot reach the Dask scheduler at {scheduler} "
                                   f"(no answer within {CONNECT_TIMEOUT_S} s)") from exc
            except Exception as exc:  # noqa: BLE001 - something answered, but not a Dask scheduler
                raise KoodariError(f"no Dask scheduler at {scheduler} ({type(exc).__name__})") from exc
            try:
                try:
                    client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
                except TimeoutError as exc:
                    raise KoodariError(f"the Dask scheduler at {scheduler} has no workers "
                                       f"(none joined within {WORKERS_TIMEOUT_S} s; start `dask worker {scheduler}`)"
                                       ) from exc
                yield client
            finally:
                # a killed scheduler: closing may time out; the run's own one-line message (or its result) stands
                with suppress(OSError, TimeoutError):
                    client.close(timeout=CONNECT_TIMEOUT_S)
            return
        cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.CRITICAL)
        try:
            with Client(cluster, set_as_default=False) as client:
                yield client
        finally:
            cluster.close()


def _probe(address: str) -> None:
    """Fail fast, in one line, when nothing listens at a tcp:// scheduler address."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location, 8786)
    except ValueError as exc:
        raise KoodariError(f"not a Dask scheduler address: {address} (expected tcp://host:8786)") from exc
    if scheme != "tcp":
        return
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
        raise KoodariError(f"cannot reach the Dask scheduler at {address} ({reason})") from exc
