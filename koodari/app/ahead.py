"""Sentence embeddings made ahead: while `koodari analyse` lemmatises new units on one core, a child process embeds
their texts as the study's model will ask for them (E5 queries) on the other, into the embedding cache of the user's
cache folder. A later `koodari suggest --file` or `koodari review` then finds them made.

Only an optimisation: nothing in the study depends on it. It runs when the model the next suggestions use (the newest,
or a default one trained first: ``query_settings``) uses the sentence encoder and reads the unit as spoken (what the
child can know without the analysis), on two cores or more that this process may use, with the cache on, and it
never makes the analysis wait longer than the analysis itself took (``finish``): what the child has embedded by then
is kept, the rest is embedded when asked for. Its failures are silent (the suggestions embed on demand).

The child runs ``main`` (``CHILD``) and reads a JSON list of texts on stdin. It stops after the batch in hand when
nothing keeps what it embeds (the cache file damaged, locked or unwritable) or its parent is gone (killed outright:
nobody waits for it, and an orphan would embed a whole backlog on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from koodari import sentences
from koodari.errors import KoodariError
from koodari.lazy import load
from koodari.nlp.analysed import AnalysedText
from koodari.store import Study
from koodari.store.embeddings import EmbeddingCache, default_path

semantic = load("koodari.semantic")  # SciPy: loads when there are units to embed for (koodari.lazy)

MAX_UNITS = 20_000  # units embedded ahead at most (an archive's backlog is embedded when suggested)
MIN_WAIT = 10.0  # seconds the analysis waits for the child at least (it may still be importing torch)
CHILD = "import sys; from koodari.app.ahead import main; sys.exit(main(int(sys.argv[1])))"  # the parent's pid


@dataclass
class Ahead:
    """The child process embedding units ahead, and what came of it."""

    process: subprocess.Popen | None
    state: str = "not started"  # "done", "stopped" (out of time), "failed"

    def finish(self, analysis_seconds: float) -> str:
        """Wait for the child as long as the analysis took (``MIN_WAIT`` at least), then stop it; the state."""
        if self.process is None:
            return self.state
        try:
            code = self.process.wait(timeout=max(MIN_WAIT, analysis_seconds))
            self.state = "done" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            self.state = "stopped"
        finally:
            self.stop()
        return self.state

    def stop(self) -> None:
        """End the child now (the analysis failed or was interrupted): its embeddings so far stay cached."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def query_settings(study: Study) -> tuple[str, int | None] | None:
    """(query form, words) of the model the next suggestions use (``koodari.suggest.latest_model``): the newest
    one, or a new one trained with the defaults when there is none or the tree changed after it (nothing to train
    on: no categories); None when that model does not use the sentence encoder."""
    current = study.current_model_versions()
    if not current:
        return (semantic.QUERY_FORM, semantic.QUERY_WORDS) if study.counts()["categories"] else None
    return semantic.stored_query_settings(study.model_blob(current[0].id))


def query_texts_to_embed(study: Study, pipeline_id: str) -> list[str]:
    """The E5 query texts of the interviewees' units (those a review codes) that ``pipeline_id`` has not analysed
    yet, as the next suggestions' model reads them (``query_settings``); none when that model does not use the
    sentence encoder or reads the analysis (not the unit as spoken)."""
    try:
        settings = query_settings(study)
    except KoodariError:  # a model that cannot be read (damaged pages): the analysis goes on, nothing ahead
        return []
    if settings is None or settings[0] != "spoken":
        return []
    form, words = settings
    units = [u for u in study.units_to_analyse(pipeline_id, 0, MAX_UNITS) if not u.is_interviewer]
    return list(dict.fromkeys(text for unit in units
                              for text in semantic.query_texts(AnalysedText(unit.text, ()), form, words) if text))


def cores() -> int:
    """The cores this process may run on (taskset, a container's cpuset), not merely those the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def start(texts: list[str]) -> Ahead:
    """A child process embedding TEXTS, if there are any, a second core to do it on and a cache to keep them in
    (``KOODARI_EMBEDDING_CACHE=off``: what it embedded would be thrown away)."""
    if not texts or cores() < 2 or default_path() is None:
        return Ahead(None)
    try:
        process = subprocess.Popen([sys.executable, "-P", "-c", CHILD, str(os.getpid())], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return Ahead(None, "failed")
    try:
        assert process.stdin is not None
        process.stdin.write(json.dumps(texts, ensure_ascii=False).encode("utf-8"))
        process.stdin.close()
    except OSError:  # the child died at once
        ahead = Ahead(process, "failed")
        ahead.stop()
        return ahead
    return Ahead(process, "running")


def main(parent: int) -> int:
    """The child of process PARENT: embed the JSON list of texts on stdin as E5 queries into the user's embedding
    cache, a batch at a time; 0 when done."""
    try:
        texts = [t for t in json.loads(sys.stdin.buffer.read().decode("utf-8")) if isinstance(t, str) and t]
        cache = EmbeddingCache.default()
        sentences.use_backing(cache)
        for begin in range(0, len(texts), sentences.BATCH):
            if sentences.encode(texts[begin : begin + sentences.BATCH], "query") is None:
                return 1
            if cache.disabled or os.getppid() != parent:  # nothing keeps them, or nobody waits for them
                return 1
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - nobody reads this process's output: the suggestions embed on demand
        return 1
