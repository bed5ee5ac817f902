"""Actions of the model: analysis, search and grouping, training, suggestions, evaluation, review, agreement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from koodari.app import ahead
from koodari.app.shared import LEVEL_NAMES, MODEL_KINDS, StudyRef, opened, pipeline, tree_as_of
from koodari.archive import AnalysisReport, analyse_study, dask_client
from koodari.errors import KoodariError
from koodari.lazy import load
from koodari.nlp.pipeline import FinnishPipeline
from koodari.store import Study
from koodari.textio import read_text_file

# scikit-learn, SciPy and statsmodels: these core modules load on first use (koodari.lazy)
_agreement = load("koodari.agreement")
_classify = load("koodari.classify")
_evaluate = load("koodari.evaluate")
_group = load("koodari.group")
_review = load("koodari.review")
_search = load("koodari.search")
_suggest = load("koodari.suggest")

if TYPE_CHECKING:
    from koodari.evaluate import Evaluation
    from koodari.review import ReviewSession
    from koodari.suggest import Suggester, TrainingData

# -- analysis ----------------------------------------------------------------------------------------


def lemmatise(text: str | None = None, file: Path | None = None, pretokenized: bool = False,
              normalise: bool = True) -> list[list]:
    """`koodari lemmatise`: the analysed sentences of a text or a text file."""
    if (text is None) == (file is None):
        raise KoodariError("give exactly one of --text or --file")
    source = text if text is not None else read_text_file(file).text
    nlp = pipeline(normalise=normalise)
    if pretokenized:
        return nlp.analyse_pretokenized([line.split(" ") for line in source.splitlines() if line.strip()])
    return nlp.analyse(source)


def analyse(study: StudyRef, workers: int | None = None, scheduler: str | None = None, batch_tokens: int = 2000,
            started: Callable[[int], None] | None = None,
            progress: Callable[[int, int], None] | None = None) -> AnalysisReport:
    """`koodari analyse`: every unit not yet analysed, in-process or on Dask; ``started(words)`` once,
    ``progress(words done, tokens)`` after each batch."""
    if batch_tokens < 1:
        raise KoodariError("--batch-tokens must be at least 1")
    if workers is not None and scheduler is not None:
        raise KoodariError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if workers is not None and workers < 1:
        raise KoodariError("--workers must be at least 1")
    nlp = pipeline()
    with opened(study) as s:
        backlog, words = s.analysis_backlog(nlp.id)
        if backlog:
            s.check_writable()  # refused before the models load, not at the first batch's commit
        if started is not None:
            started(words)
        if backlog and (workers is not None or scheduler is not None):
            with dask_client(workers, scheduler) as client:
                return analyse_study(s, nlp, client, batch_tokens, progress)
        # the units' sentence embeddings made on the other core meanwhile (``koodari.app.ahead``)
        embedding = ahead.start(ahead.query_texts_to_embed(s, nlp.id) if backlog else [])
        try:
            report = analyse_study(s, nlp, None, batch_tokens, progress)
            report.embedded_ahead = embedding.finish(report.seconds)
        finally:
            embedding.stop()
        return report


def search(study: StudyRef, query: str, question: str | None = None, coded: bool | None = None,
           top: int = 10) -> list[dict[str, Any]]:
    """`koodari search`: units ranked by meaning and words."""
    if top < 1:
        raise KoodariError(f"--top must be at least 1, not {top}")
    with opened(study) as s:
        return _search.search_units(s, pipeline(), query, s.require_question(question), coded, top)


def group(study: StudyRef, question: str | None = None, uncoded: bool = False,
          threshold: float | None = None) -> dict[str, Any]:
    """`koodari group`: candidate subcategories from reductions (or uncoded units) that mean the same."""
    with opened(study) as s:
        return _group.group(s, pipeline(), s.require_question(question), uncoded,
                            _group.DEFAULT_THRESHOLD if threshold is None else threshold)


# -- the suggestion model ----------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise KoodariError(f"unknown model kind '{kind}' (linear, neighbours)")


def _check_level(level: str) -> None:
    if level not in LEVEL_NAMES:
        raise KoodariError(f"unknown level '{level}' (sub, upper, combining)")


def training_data(study: Study, as_of: str | None = None) -> TrainingData:
    """The coded examples, the tree's own evidence (names and description sentences) and the tree, analysed
    with the shared pipeline; on the codes and the tree as they were at ``as_of`` when given."""
    at, _ = tree_as_of(study, as_of)
    return _suggest.training_data(study, pipeline(), as_of=at)


def train(study: StudyRef, kind: str | None = None, folds: int = 3, blocks: str | None = None) -> dict[str, Any]:
    """`koodari train`: a new model version on all coded material (cross-validated unless ``folds`` is 0);
    the default model kind and feature blocks unless named."""
    kind = kind or _classify.DEFAULT_KIND
    blocks = blocks or _classify.DEFAULT_BLOCKS
    _check_kind(kind)
    if folds == 1 or folds < 0:
        raise KoodariError(f"--folds must be 0 (no cross-validation) or at least 2, not {folds}")
    with opened(study) as s:
        return _suggest.train(s, pipeline(), kind=kind, evaluate_folds=folds, blocks=blocks)[1]


def suggester(study: Study, version: int | None = None, model: Any = None) -> Suggester:
    """Suggestions from an open study's latest model (trained first when there is none)."""
    return _suggest.Suggester(study, pipeline(), version, model)


@dataclass
class Suggestions:
    """Ranked suggestions for each text, from model ``version``."""

    texts: list[str]
    version: int
    results: list[list]


def suggest_texts(study: StudyRef, texts: list[str], question: str | None = None, level: str = "sub",
                  top: int = 5, progress: Callable[[int, int], None] | None = None) -> Suggestions:
    """`koodari suggest --text`: suggestions for utterances; PROGRESS hears (done, total) as the sentence encoder
    embeds them (the slow part of many utterances)."""
    with opened(study) as s:
        question_id = s.require_question(question)
        found = suggester(s)
        docs = found.docs_for_texts(texts)
        if progress is not None and found.model.semantic is not None:
            found.model.semantic.embed_queries(docs, progress)
        results = found.suggest_docs(docs, [question_id] * len(texts), level=level, top=top)
    return Suggestions(texts, found.version, results)


def suggest_file(study: StudyRef, file: Path, question: str | None = None, level: str = "sub",
                 top: int = 5, progress: Callable[[int, int], None] | None = None) -> Suggestions:
    """`koodari suggest --file`: suggestions for each non-empty line of a text file."""
    lines = [line.strip() for line in read_text_file(file).text.splitlines() if line.strip()]
    return suggest_texts(study, lines, question, level, top, progress)


def suggest_units(study: StudyRef, unit_ids: list[int], top: int = 3) -> Suggestions:
    """Suggestions for analysis units, each from its own question's tree."""
    with opened(study) as s:
        found = suggester(s)
        questions = [s.segment(i).question_id for i in unit_ids]
        results = found.suggest_docs(found.docs_for_units(unit_ids), questions, top=top)
        return Suggestions([s.segment(i).text for i in unit_ids], found.version, results)


def suggest_tokens(found: Suggester, texts: list, question_id: int | None, level: str = "sub",
                   top: int = 5) -> list[list]:
    """Suggestions for texts given as strings or as analysed texts (spaCy tokens koodari_finnish analysed)."""
    raw = iter(found.docs_for_texts([t for t in texts if isinstance(t, str)]))  # the strings in one batch
    docs = [next(raw) if isinstance(t, str) else t for t in texts]
    return found.suggest_docs(docs, [question_id] * len(docs), level=level, top=top)


def evaluate(study: StudyRef, folds: int = 5, level: str = "sub", kind: str | None = None,
             as_of: str | None = None) -> Evaluation:
    """`koodari evaluate`: cross-validate the suggestions on the study's coded material, with a learning curve."""
    _check_level(level)
    if folds < 2:
        raise KoodariError("--folds must be at least 2")
    kind = kind or _classify.DEFAULT_KIND
    _check_kind(kind)
    with opened(study) as s:
        data = training_data(s, as_of)
        if not data.examples:
            raise KoodariError("the study has no coded material yet", s.path)
        return _evaluate.cross_validate(data.examples, data.always, data.tree, folds=folds, level=level, kind=kind,
                                        curve=True)


# -- coding and agreement ------------------------------------------------------------------------------


def review_session(study: Study, coder: str = "", document: str | None = None, question: str | None = None,
                   order: str = "document", retrain_every: int = 20, resolve: str | None = None,
                   background: bool = True, nlp: FinnishPipeline | None = None) -> ReviewSession:
    """`koodari review` / `serve`: a coder's queue of uncoded units; with ``resolve`` ("A,B"), the two coders'
    disagreements, decided as coder `consensus`. ``nlp``: another pipeline than the shared one (tests). A read-only
    study is refused at once, before a model is trained: every decision is written to the study as it is made."""
    if study.read_only:
        raise KoodariError(f"{study.read_only_reason}, and a review writes each decision to it as it is made; nothing "
                           "was changed (copy the study to a writable folder to code it)", study.path)
    nlp = nlp or pipeline()
    if resolve:
        return _review.ResolveSession(study, [c.strip() for c in resolve.split(",") if c.strip()], nlp,
                              document=document, question=question, retrain_every=retrain_every,
                              background=background)
    return _review.ReviewSession(study, coder, nlp, document=document, question=question, order=order,
                         retrain_every=retrain_every, background=background)


def agree(study: StudyRef, coders: list[str] | None = None, level: str = "sub", question: str | None = None,
          as_of: str | None = None) -> dict[str, Any]:
    """`koodari agree`: percent agreement, Cohen's and Fleiss' κ, Krippendorff's α; coder `model` is the
    model, cross-fitted."""
    with opened(study) as s:
        at, tree_then = tree_as_of(s, as_of)
        table = _agreement.coding_table(s, coders, level, s.require_question(question), as_of=at)
        if coders and _agreement.MODEL in coders:
            _agreement.add_model_coder(s, table, pipeline())
        return _agreement.agreement(table, tree_then)


def agreement_by_level(study: Study, coders: list[str] | None) -> dict[str, dict[str, Any]]:
    """The agreement at each level (a level without enough codes: ``{"error": why}``), on the tree as it is."""
    tree_now = _suggest.Tree(study)
    levels: dict[str, dict[str, Any]] = {}
    for level in LEVEL_NAMES:
        try:
            levels[level] = _agreement.agreement(_agreement.coding_table(study, coders, level), tree_now)
        except KoodariError as exc:
            levels[level] = {"error": str(exc)}
    return levels


def code_pairs(study: Study, pair: list[str], level: str) -> list[tuple[str, str]]:
    """(A's category name, B's) for each unit both coders of ``pair`` coded."""
    names = {cid: category.name for cid, category in _suggest.Tree(study).categories.items()}
    table = _agreement.coding_table(study, pair, level)
    return [(names[by[pair[0]]], names[by[pair[1]]]) for by in table.codes.values() if pair[0] in by and pair[1] in by]
