"""spaCy integration: koodari's Finnish pipeline as registered spaCy components.

    import spacy
    nlp = spacy.blank("fi")
    nlp.add_pipe("koodari_finnish")          # lemmas, UPOS and token._.normalised
    nlp.add_pipe("koodari_suggester", config={"study": "kainuu.koodari"})  # doc._.koodari, span._.koodari
    doc = nlp("Se on hirveen tärkee asia.")
    [(t.text, t._.normalised, t.lemma_, t.pos_) for t in doc]

The factory is registered through spaCy's ``spacy_factories`` entry point, so it is found without
importing koodari first. spacy-stanza is not used: it pins stanza<1.7.
"""

from __future__ import annotations

from collections.abc import Iterable

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from koodari import app as actions
from koodari.nlp.analysed import AnalysedText, AnalysedToken

if not Token.has_extension("normalised"):
    Token.set_extension("normalised", default=None)


class KoodariFinnish:
    """Sets lemma_, pos_ and ._.normalised on every token, keeping spaCy's tokenisation."""

    def __init__(self, nlp: Language, name: str, models: str | None, normalise: bool) -> None:
        self.pipeline = actions.pipeline(normalise=normalise, models=models)
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        sentences = [[t.text for t in sent if not t.is_space] for sent in _sentences(doc)]
        tagged = [t for sent in self.pipeline.analyse_pretokenized(sentences) for t in sent]
        annotate([token for token in doc if not token.is_space], tagged)
        return doc


# -- conversion between spaCy's Doc and koodari's AnalysedText ----------------------------------------------


def annotate(tokens: Iterable[Token], analysed: Iterable[AnalysedToken]) -> None:
    """Write koodari's analysis onto spaCy tokens: lemma_, pos_ (the first word's tag of a multiword form) and
    ._.normalised."""
    for token, analysis in zip(tokens, analysed, strict=True):
        token.lemma_ = analysis.lemma
        token.pos_ = analysis.upos.split("+")[0]
        token._.normalised = analysis.normalised


def analysed_text(span: Doc | Span) -> AnalysedText:
    """koodari's analysed text of a spaCy doc or span that ``koodari_finnish`` annotated (offsets into the doc)."""
    words = [t for t in span if not t.is_space]
    start = span.start_char if isinstance(span, Span) else 0
    return AnalysedText(span.text, tuple(AnalysedToken(t.text, t._.normalised or "", t.lemma_, t.pos_, t.idx,
                                                       t.idx + len(t)) for t in words), start)


def _sentences(doc: Doc):
    if doc.has_annotation("SENT_START"):
        return list(doc.sents)
    return [doc[:]]


@Language.factory("koodari_finnish", default_config={"models": None, "normalise": True})
def make_finnish(nlp: Language, name: str, models: str | None, normalise: bool) -> KoodariFinnish:
    return KoodariFinnish(nlp, name, models, normalise)


def load(normalise: bool = True) -> Language:
    """A blank Finnish spaCy pipeline with koodari's normaliser, tagger and lemmatiser."""
    nlp = spacy.blank("fi")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("koodari_finnish", config={"normalise": normalise})
    return nlp


if not Doc.has_extension("koodari"):
    Doc.set_extension("koodari", default=None)
if not Span.has_extension("koodari"):
    Span.set_extension("koodari", default=None)


class KoodariSuggester:
    """Adds koodari's suggestions (dicts as `koodari suggest --json` prints them) to doc._.koodari and to
    each sentence's span._.koodari, from a study's latest model."""

    def __init__(self, nlp: Language, name: str, study: str, question: str | None, top: int, level: str) -> None:
        self.study = actions.open_study(study)
        self.question = self.study.require_question(question)
        self.suggester = actions.suggester(self.study)
        self.top, self.level, self.name = top, level, name

    @staticmethod
    def _text(tokens: Doc | Span) -> str | AnalysedText:
        """The analysis koodari_finnish left on the tokens, when it ran before; else the text to analyse."""
        if all(t._.normalised is not None for t in tokens if not t.is_space):
            return analysed_text(tokens)
        return tokens.text

    def __call__(self, doc: Doc) -> Doc:
        spans = _sentences(doc)
        texts = [self._text(doc[:])] + [self._text(span) for span in spans]
        results = actions.suggest_tokens(self.suggester, texts, self.question, level=self.level, top=self.top)
        doc._.koodari = [s.as_dict() for s in results[0]]
        for span, result in zip(spans, results[1:], strict=True):
            span._.koodari = [s.as_dict() for s in result]
        return doc


@Language.factory("koodari_suggester",
                  default_config={"study": None, "question": None, "top": 5, "level": "sub"})
def make_suggester(nlp: Language, name: str, study: str, question: str | None, top: int,
                   level: str) -> KoodariSuggester:
    if not study:
        raise ValueError("koodari_suggester needs config={'study': PATH}")
    return KoodariSuggester(nlp, name, study, question, top, level)
