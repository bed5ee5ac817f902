"""spaCy integration: koodari's Finnish pipeline as registered spaCy components.

    import spacy
    nlp = spacy.blank("fi")
    nlp.add_pipe("koodari_finnish")          # lemmas, UPOS and token._.normalised
    doc = nlp("Se on hirveen tärkee asia.")
    [(t.text, t._.normalised, t.lemma_, t.pos_) for t in doc]

The factory is registered through spaCy's ``spacy_factories`` entry point, so it is found without
importing koodari first. spacy-stanza is not used: it pins stanza<1.7.
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc, Token

if not Token.has_extension("normalised"):
    Token.set_extension("normalised", default=None)


class KoodariFinnish:
    """Sets lemma_, pos_ and ._.normalised on every token, keeping spaCy's tokenisation."""

    def __init__(self, nlp: Language, name: str, models: str | None, normalise: bool) -> None:
        from koodari.nlp.pipeline import FinnishPipeline, ModelSource

        source = ModelSource.official(models) if models else ModelSource.default()
        self.pipeline = FinnishPipeline(source, normalise=normalise)
        self.name = name

    def __call__(self, doc: Doc) -> Doc:
        sentences = [[t.text for t in sent if not t.is_space] for sent in _sentences(doc)]
        tagged = iter(t for sent in self.pipeline.analyse_pretokenized(sentences) for t in sent)
        for token in doc:
            if token.is_space:
                continue
            analysis = next(tagged)
            token.lemma_ = analysis.lemma
            token.pos_ = analysis.upos if "+" not in analysis.upos else analysis.upos.split("+")[0]
            token._.normalised = analysis.normalised
        return doc


def _sentences(doc: Doc):
    if doc.has_annotation("SENT_START"):
        return list(doc.sents)
    return [doc[:]]


@Language.factory("koodari_finnish", default_config={"models": None, "normalise": True})
def make_finnish(nlp: Language, name: str, models: str | None, normalise: bool) -> KoodariFinnish:
    return KoodariFinnish(nlp, name, models, normalise)


def load(normalise: bool = True) -> Language:
    """A blank Finnish spaCy pipeline with koodari's normaliser, tagger and lemmatiser."""
    import spacy

    nlp = spacy.blank("fi")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("koodari_finnish", config={"normalise": normalise})
    return nlp
