"""Reviewing suggestions, one unit at a time: the session logic behind `koodari review`.

Every decision is its own committed transaction (WAL, synchronous=FULL): a crash, Ctrl-C, a closed
terminal or ``kill -9`` loses nothing, and the next session resumes at the first uncoded unit.
Coders work blind: a coder's queue, codes and model never see another coder's review codes.
Undo never deletes: it records an ``undo`` decision and retracts the coding it undid.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from koodari import sentences
from koodari.agreement import coding_table
from koodari.errors import KoodariError
from koodari.hierarchy import CONSENSUS, Tree, disagreements_of
from koodari.nlp.analysed import AnalysedText
from koodari.nlp.cache import analyse_texts, analyse_units, ensure_analysed
from koodari.nlp.pipeline import FinnishPipeline
from koodari.search import MeaningIndex, closest_uncoded
from koodari.semantic import query_texts
from koodari.store import Study
from koodari.suggest import Suggester, Suggestion, latest_model, load_model, train
from koodari.treeops import recode, split_into, undo_recode
from koodari.vectors import load_vectors

FILLERS = frozenset(
    [
        "niinku",
        "niinkun",
        "tuota",
        "tota",
        "niin",
        "sitten",
        "sit",
        "siis",
        "no",
        "joo",
        "ihan",
        "kyllä",
        "vaan",
        "vain",
        "just",
        "eli",
        "että",
        "et",
        "tavallaan",
        "sanotaan",
        "jotenkin",
        "ehkä",
        "vähän",
        "aika",
        "semmonen",
        "semmoinen",
        "mm",
        "öö",
        "ää",
        "hmm",
    ]
)
CODING_ACTIONS = ("accept", "pick", "search", "new")
PREFETCH = 8  # the next uncoded units whose sentence-encoder query is embedded in the background


@dataclass
class UnitView:
    """What the screen shows for one unit."""

    id: int
    text: str
    normalised: str
    speaker: str | None
    theme: str | None
    question_id: int | None
    question: str | None
    before: list[tuple[str | None, str]]
    after: list[tuple[str | None, str]]
    codes: list[list[str | None]]  # this coder's codes on this unit (paths)


@dataclass
class Progress:
    coded: int
    total: int
    decisions: int
    first_accepts: int
    seconds: list[float] = field(default_factory=list)

    @property
    def accept_rate(self) -> float | None:
        return self.first_accepts / self.decisions if self.decisions else None

    @property
    def seconds_per_unit(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def eta_seconds(self) -> float | None:
        per = self.seconds_per_unit
        return per * (self.total - self.coded) if per is not None else None


class ReviewSession:
    """The queue of uncoded units for one coder, and the decisions taken on them."""

    def __init__(
        self,
        study: Study,
        coder: str,
        pipeline: FinnishPipeline | None = None,
        document: str | None = None,
        question: str | None = None,
        order: str = "document",
        retrain_every: int = 20,
        background: bool = True,
    ) -> None:
        if not coder.strip():
            raise KoodariError("--coder must name the coder")
        if order not in ("document", "uncertain"):
            raise KoodariError(f"unknown order '{order}' (document, uncertain)")
        self.study = study
        self.coder = coder.strip()
        self.pipeline = pipeline or FinnishPipeline()
        self.order = order
        self.retrain_every = max(1, retrain_every)
        self.background = background
        self.document_id = self._document(document)
        self.question_id = study.require_question(question)
        self.skipped: set[int] = set()
        self.pending_reduction: str | None = None
        self.keep_open = False
        self.decisions_since_training = 0
        self.progress_seconds: list[float] = []
        self.first_accepts = 0
        self.session_decisions = 0
        self.shown_at = time.monotonic()
        self._training: threading.Thread | None = None
        self._ready_version: int | None = None  # a model version this session retrained, waiting to be used
        self.training_error: str | None = None  # why the last background retraining failed, if it did
        self.suggester = self._make_suggester()
        self._cache: dict[int, list[Suggestion]] = {}
        self._analyses: dict[int, AnalysedText] = {}  # a unit's text never changes: analysed once per session
        ensure_analysed(study, self.pipeline, study.units_in_scope(self.document_id, self.question_id))
        self._prefetch_lock = threading.Lock()
        self._prefetch_texts: list[str] = []  # the texts the prefetch thread embeds next (the newest wish only)
        self._prefetcher: threading.Thread | None = None
        self.prefetch_error: str | None = None  # why the last prefetch failed, if it did (the coder never sees it)
        self.prefetch([i for i in self.uncoded() if i not in self.skipped][: PREFETCH + 1])

    # -- scope ---------------------------------------------------------------------------------

    def _document(self, document: str | None) -> int | None:
        return None if document is None else self.study.document_id(document)


    def coded_ids(self) -> set[int]:
        """Units this coder has coded (an active coding) or explicitly finished."""
        return self.study.coded_units(self.coder)

    def uncoded(self) -> list[int]:
        ids = self.study.units_in_scope(self.document_id, self.question_id)
        coded = self.coded_ids()
        return [i for i in ids if i not in coded]

    def progress(self) -> Progress:
        total = len(self.study.units_in_scope(self.document_id, self.question_id))
        return Progress(
            total - len(self.uncoded()), total, self.session_decisions, self.first_accepts, list(self.progress_seconds)
        )

    def next_unit(self) -> int | None:
        """The first uncoded unit (document order), or the one the model is least sure of."""
        self._swap_model()
        queue = [i for i in self.uncoded() if i not in self.skipped]
        if not queue:
            return None
        if self.order == "uncertain":
            self._suggest_many(queue)  # one batch: the sentence encoder and the model run once for the queue
            margins = {}
            for unit in queue:
                ranked = self.suggestions(unit)
                top = [s.probability for s in ranked[:2]] + [0.0, 0.0]
                margins[unit] = top[0] - top[1]
            unit = min(queue, key=lambda u: (margins[u], u))
        else:
            unit = queue[0]
        self.prefetch([u for u in queue if u != unit][:PREFETCH])
        return unit

    # -- what the screen shows ------------------------------------------------------------------

    def view(self, unit_id: int) -> UnitView:
        seg = self.study.segment(unit_id)
        neighbours = self.study.neighbours(unit_id, radius=2)
        analysis = self.analysis(unit_id)
        question = None
        if seg.question_id is not None:
            question = self.study.question(seg.question_id).label
        codes = [self.study.path_of(cid) for cid in self.study.coder_codes(unit_id, self.coder)]
        return UnitView(
            id=unit_id,
            text=seg.text,
            normalised=analysis.normalised,
            speaker=seg.speaker,
            theme=seg.theme,
            question_id=seg.question_id,
            question=question,
            before=[(r.speaker, r.text) for r in neighbours if r.seq < seg.seq],
            after=[(r.speaker, r.text) for r in neighbours if r.seq > seg.seq],
            codes=codes,
        )

    def analysis(self, unit_id: int) -> AnalysedText:
        """The unit's analysed text: read from the study's cache (or analysed) once per session, then kept for the
        screen, the suggestions and the draft reduction."""
        found = self._analyses.get(unit_id)
        if found is None:
            if len(self._analyses) >= 256:
                self._analyses.clear()
            found = self._analyses[unit_id] = analyse_units(self.study, self.pipeline, [unit_id])[0]
        return found

    def suggestions(self, unit_id: int, top: int = 9) -> list[Suggestion]:
        if unit_id not in self._cache:
            self._cache[unit_id] = self._model_suggestions(unit_id, top)
        return self._cache[unit_id]

    def _model_suggestions(self, unit_id: int, top: int) -> list[Suggestion]:
        question = self.study.segment(unit_id).question_id
        ranked = self.suggester.suggest_docs([self.analysis(unit_id)], [question], top=top)[0]
        return prefer_split_options(self.study, self.suggester.tree, unit_id, self.coder, ranked)[:top]

    def _suggest_many(self, units: list[int], top: int = 9) -> None:
        """Suggestions for the units not yet in the session's cache, in one batch."""
        todo = [u for u in units if u not in self._cache]
        if not todo or type(self)._model_suggestions is not ReviewSession._model_suggestions:
            return  # a session that suggests otherwise (resolving) goes unit by unit
        docs = [self.analysis(u) for u in todo]
        questions = [self.study.segment(u).question_id for u in todo]
        for unit, ranked in zip(todo, self.suggester.suggest_docs(docs, questions, top=top), strict=True):
            self._cache[unit] = prefer_split_options(self.study, self.suggester.tree, unit, self.coder, ranked)[:top]

    def draft_reduction(self, unit_id: int) -> str:
        """A first draft of a reduction: the normalised text without fillers such as 'niinku', 'tuota'."""
        words = [
            t.normalised
            for t in self.analysis(unit_id).tokens
            if t.upos != "PUNCT" and t.spoken.lower() not in FILLERS  # "niinku" → "niin kuin": both go
        ]
        kept = [w for w in " ".join(words).split() if w.lower() not in FILLERS]
        return re.sub(r"\s+", " ", " ".join(kept)).strip()

    # -- decisions -----------------------------------------------------------------------------

    def code(self, unit_id: int, category_id: int, action: str, rank: int | None = None) -> int:
        """Record a code for the unit (a coding row and its decision) in one transaction."""
        if action not in CODING_ACTIONS:
            raise ValueError(action)
        seg = self.study.segment(unit_id)
        elapsed = time.monotonic() - self.shown_at
        with self.study.transaction():
            split = self.study.split_codings(unit_id, self.coder)  # a coding of a split category: re-code it
            reduction_id = split[0].id if split else self.study.add_reduction(
                self.pending_reduction,
                category_id,
                self.coder,
                source="review",
                segment_id=unit_id,
                original=seg.text,
                speaker=seg.speaker,
            )
            decision_id = self.study.record_decision(unit_id, self.coder, action, category_id, reduction_id, rank,
                                                     self.suggester.version)
            if split:
                recode(self.study, reduction_id, split[0].category_id, category_id, decision_id)
        self.pending_reduction = None
        self.session_decisions += 1
        self.first_accepts += rank == 1
        self.progress_seconds.append(elapsed)
        self.shown_at = time.monotonic()
        self._after_decision()
        return decision_id

    def accept(self, unit_id: int, rank: int = 1) -> int:
        ranked = self.suggestions(unit_id)
        if not 1 <= rank <= len(ranked):
            raise KoodariError(f"no suggestion number {rank}")
        return self.code(unit_id, ranked[rank - 1].category_id, "accept" if rank == 1 else "pick", rank)

    def needs_question(self, unit_id: int) -> bool:
        """True when the unit belongs to no research question and the study has several to choose from
        (suggestions would mix trees, and a new category would have no place)."""
        return self.study.segment(unit_id).question_id is None and len(self.study.questions()) > 1

    def assign_question(self, unit_id: int, question: str) -> int:
        """Link the unit's theme (or, without a theme, its document) to a research question, remembered for
        the other units and later imports; returns how many units were linked."""
        seg = self.study.segment(unit_id)
        question_id = self.study.require_question(question)
        if seg.theme:
            changed = self.study.assign_question(question_id, theme=seg.theme)
        else:
            changed = self.study.assign_question(question_id, document_id=seg.document_id)
        self._cache.clear()
        return changed

    def new_subcategory(self, unit_id: int, name: str, upper: str | None = None,
                        together: Sequence[int] = ()) -> int:
        """Create a subcategory (under UPPER, made if new) and code the unit with it; then each of the units
        TOGETHER (the close uncoded units the coder chose to code with it), each its own decision, so that a
        crash keeps those already made and `u` undoes them one by one. Returns the unit's decision."""
        seg = self.study.segment(unit_id)
        if self.needs_question(unit_id):
            raise KoodariError("choose the unit's research question first")
        questions = self.study.questions()
        question_id = seg.question_id or (questions[0].id if questions else self.study.question_for(None))
        with self.study.transaction():
            category_id = self.study.ensure_path(question_id, name, upper or None, created_by=self.coder)
            decision = self.code(unit_id, category_id, "new")
        still_uncoded = set(self.uncoded())
        for other in dict.fromkeys(together):
            if other != unit_id and other in still_uncoded:
                self.code(other, category_id, "new")
        self.suggester = self._make_suggester(reuse=True)  # the new category is in the tree now
        return decision

    def skip(self, unit_id: int) -> int:
        decision_id = self.study.record_decision(unit_id, self.coder, "skip", model_version_id=self.suggester.version)
        self.skipped.add(unit_id)
        self.shown_at = time.monotonic()
        return decision_id

    def undo(self) -> int | None:
        """Undo this coder's last decision (of any session); returns the unit it was about."""
        last = self.study.last_undoable_decision(self.coder)
        if last is None:
            return None
        with self.study.transaction():
            undo_id = self.study.record_decision(last.segment_id, self.coder, "undo", undoes=last.id)
            if last.reduction_id is not None and not undo_recode(self.study, last.id):
                self.study.retract_coding(last.reduction_id, undo_id)
        self.skipped.discard(last.segment_id)
        if last.action in CODING_ACTIONS and self.session_decisions:
            self.session_decisions -= 1
            self.first_accepts -= last.suggestion_rank == 1
            if self.progress_seconds:
                self.progress_seconds.pop()
        return last.segment_id

    def retract(self, unit_id: int) -> int:
        """Withdraw this coder's codes of a unit before recoding it: an `undo` decision for each, nothing deleted."""
        rows = self.study.decisions_of_active_codings(unit_id, self.coder)
        with self.study.transaction():
            for row in rows:
                undo_id = self.study.record_decision(unit_id, self.coder, "undo", undoes=row.id)
                self.study.retract_coding(row.reduction_id, undo_id)
        return len(rows)

    def search(self, query: str, question_id: int | None, limit: int = 9) -> list[tuple[int, list[str | None]]]:
        """Subcategories matching a query: fuzzy on the names, and by lemma (an inflected or dialect word
        finds its category)."""
        from rapidfuzz import fuzz

        cats = self.study.categories(question_id, "sub") or self.study.categories(level="sub")
        if not query.strip() or not cats:
            return []

        def parts(analysis: AnalysedText) -> set[str]:
            """Lemmas with and without their compound boundary, and the compound parts."""
            lemmas = analysis.lemma_text.split()
            return {p for lemma in lemmas for p in lemma.split("#")} | {lemma.replace("#", "") for lemma in lemmas}

        analysed, *names = analyse_texts(self.study, self.pipeline, [query, *(c.name for c in cats)])  # one batch
        query_parts = parts(analysed)
        meaning = _meaning_scores(analysed, names)  # "kaverit" finds "ystävien tuki"
        scored = []
        for cat, name, close in zip(cats, names, meaning, strict=True):
            lemma_hit = len(parts(name) & query_parts)
            fuzzy = fuzz.partial_ratio(query.lower(), cat.name.lower())
            by_name = fuzzy if fuzzy >= 90 else fuzzy / 2  # a near-exact name match counts in full
            scored.append((lemma_hit * 100 + by_name + 100 * close, cat.id))
        scored.sort(reverse=True)
        return [(cid, self.study.path_of(cid)) for score, cid in scored[:limit] if score >= 60]

    def closest_uncoded(self, unit_id: int, top: int = 5) -> list[tuple[int, str, float]]:
        """The uncoded units closest to this one by meaning and words (to code together); none without the word
        vectors, so that a lexical model's review still creates the new subcategory."""
        try:
            load_vectors()
        except KoodariError:
            return []
        return closest_uncoded(self.study, self.pipeline, unit_id, self.uncoded(), top)

    # -- the model ----------------------------------------------------------------------------

    @property
    def blind_for(self) -> str | None:
        """Whose blind review this is: its model never sees another coder's review codes."""
        return self.coder

    def _make_suggester(self, reuse: bool = False) -> Suggester:
        """A model that has never seen another coder's review codes (blind coding): the newest such model
        version in the study, or a new one trained for this coder."""
        if reuse:
            return Suggester(self.study, self.pipeline, self.suggester.version, self.suggester.model)
        found = latest_model(self.study, blind_for=self.blind_for)
        if found is None:
            version, _ = train(self.study, self.pipeline, blind_for=self.blind_for)
            found = version, load_model(self.study, version)
        return Suggester(self.study, self.pipeline, *found)

    def _after_decision(self) -> None:
        self.decisions_since_training += 1
        if self.decisions_since_training < self.retrain_every:
            return
        self.decisions_since_training = 0
        if self.background:
            if self._training is None or not self._training.is_alive():
                self._training = threading.Thread(target=self._train_in_background, daemon=True)
                self._training.start()
        else:
            self._ready_version, _ = train(self.study, self.pipeline, blind_for=self.blind_for)
            self._swap_model()

    def _train_in_background(self) -> None:
        try:
            with Study.open(self.study.path) as study:  # its own connection: this runs in another thread
                self._ready_version, _ = train(study, self.pipeline, blind_for=self.blind_for)
        except Exception as exc:  # a failed retraining keeps the current model; the session goes on
            self.training_error = f"{type(exc).__name__}: {exc}"

    def _swap_model(self) -> None:
        """Use the version this session's retraining made (never another coder's newer one)."""
        version, self._ready_version = self._ready_version, None
        if version is None:
            return
        self.suggester = Suggester(self.study, self.pipeline, version, load_model(self.study, version))
        self._cache.clear()

    def tree_changed(self) -> None:
        """The tree changed (merge, move... from the review screen): suggestions from the new tree."""
        self.suggester = self._make_suggester(reuse=True)
        self._cache.clear()

    def wait_for_training(self, timeout: float = 120) -> None:
        if self._training is not None:
            self._training.join(timeout)

    # -- embedding the next units ahead of time ------------------------------------------------

    def prefetch(self, unit_ids: list[int]) -> None:
        """Embed the units' texts as sentence-encoder queries in a background thread (the coder reads the unit on
        screen meanwhile), so that their suggestions never wait for the encoder. Nothing when the model does not
        use the encoder; a failure only leaves the suggestions to embed on demand."""
        semantic = getattr(self.suggester.model, "semantic", None)
        if not unit_ids or getattr(semantic, "passages", None) is None:
            return
        form, words = semantic.query_form, semantic.query_words
        texts: list[str] = []
        try:  # what the suggester embeds (``query_texts``): the unit's text as spoken (cut), or its analysis
            for unit in unit_ids:
                doc = self._analyses.get(unit)
                if doc is None and form == "spoken":  # the analysed text is the unit's own text
                    doc = AnalysedText(self.study.segment(unit).text, ())
                if doc is not None:
                    texts += query_texts(doc, form, words)
        except KoodariError:
            return
        with self._prefetch_lock:
            self._prefetch_texts = texts
            if self._prefetcher is None or not self._prefetcher.is_alive():
                self._prefetcher = threading.Thread(target=self._prefetch_loop, name="koodari-prefetch", daemon=True)
                self._prefetcher.start()

    def _prefetch_loop(self) -> None:
        """The prefetch thread: embeds the newest wish until none is left, at a lower CPU priority than the
        screen's thread (one OpenMP thread, koodari.threads)."""
        with contextlib.suppress(AttributeError, OSError):  # Linux: a nicer priority for this thread only
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + 10))
        while True:
            with self._prefetch_lock:
                texts, self._prefetch_texts = self._prefetch_texts, []
                if not texts:
                    self._prefetcher = None
                    return
            try:
                sentences.prefetch(texts, "query")
            except Exception as exc:  # noqa: BLE001 - the suggester embeds on demand; the review goes on
                self.prefetch_error = f"{type(exc).__name__}: {exc}"

    def wait_for_prefetch(self, timeout: float = 60) -> None:
        """Wait until the background embedding has nothing left to do (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while (thread := self._prefetcher) is not None and thread.is_alive() and time.monotonic() < deadline:
            thread.join(max(0.0, deadline - time.monotonic()))


class ResolveSession(ReviewSession):
    """Walk the units two coders coded differently and record the agreed code as coder `consensus`."""

    def __init__(self, study: Study, coders: list[str], pipeline: FinnishPipeline | None = None,
                 **kwargs) -> None:
        if len(coders) != 2:
            raise KoodariError("--resolve takes two coders, e.g. --resolve anna,ben")
        self.pair = coders
        super().__init__(study, CONSENSUS, pipeline, **kwargs)

    @property
    def blind_for(self) -> str | None:
        return None  # consensus is not blind: it exists to see both codes

    def uncoded(self) -> list[int]:
        table = coding_table(self.study, self.pair, "sub", self.question_id)
        done = self.coded_ids()
        units = []
        for unit in disagreements_of(table.codes, self.pair):
            if unit.startswith("S"):
                segment_id = int(unit[1:])
                if segment_id not in done and (self.document_id is None or
                                               self.study.segment(segment_id).document_id == self.document_id):
                    units.append(segment_id)
        return sorted(units)

    def progress(self) -> Progress:
        remaining = len(self.uncoded())
        total = remaining + len(self.coded_ids())
        return Progress(total - remaining, total, self.session_decisions, self.first_accepts,
                        list(self.progress_seconds))

    def _model_suggestions(self, unit_id: int, top: int) -> list[Suggestion]:
        """The two coders' codes first (with the model's probability for them), then the model's other ones."""
        tree = self.suggester.tree
        model = super()._model_suggestions(unit_id, top)
        probability = {s.category_id: s.probability for s in model}
        options: list[Suggestion] = []
        for coder in self.pair:
            first = self.study.coder_codes(unit_id, coder)[0]
            cid = tree.ancestor(first, "sub") or first
            if cid not in [o.category_id for o in options]:
                options.append(Suggestion(cid, tree.categories[cid].name, "sub", probability.get(cid, 0.0),
                                          tree.path(cid), f"{coder}'s code", False))
        chosen = {o.category_id for o in options}
        return (options + [s for s in model if s.category_id not in chosen])[:top]


def _meaning_scores(query: AnalysedText, names: list[AnalysedText]) -> list[float]:
    """How close each category name is to the query by meaning (0–1); zeros without the word vectors."""
    if not query.words:
        return [0.0] * len(names)
    try:
        return MeaningIndex(names).soft(query).tolist()
    except KoodariError:  # the vectors package is missing: the search still finds by name
        return [0.0] * len(names)


def prefer_split_options(
    study: Study, tree: Tree, unit_id: int, coder: str, ranked: list[Suggestion]
) -> list[Suggestion]:
    """A unit whose code was split: the categories it was split into first (with the model's probability)."""
    split = study.split_codings(unit_id, coder)
    if not split:
        return ranked
    probability = {s.category_id: s.probability for s in ranked}
    old = study.category(split[0].category_id).name
    options = [Suggestion(cid, tree.categories[cid].name, tree.categories[cid].level, probability.get(cid, 0.0),
                          tree.path(cid), f"split from '{old}'", False)
               for cid in split_into(study, split[0].category_id) if cid in tree.categories]
    chosen = {o.category_id for o in options}
    return options + [s for s in ranked if s.category_id not in chosen]
