"""Offline Finnish lemmatisation: stanza's tokenizer, tagger and lemmatizer behind the dialect normaliser.

The pipeline is a sequence of named stages, built from components the way a spaCy pipeline is
(``FinnishPipeline.pipe_names``):

1. ``tokenise``: sentences of tokens with character offsets, from koodari's rule-based tokeniser and sentence splitter
   (``koodari.nlp.tokeniser``: no model, no torch) with koodari's models, from stanza's tokenizer with a user's own;
2. ``normalise``: the dialect normaliser, a sentence at a time so that a neighbouring word (the context
   table) can decide a reading;
3. ``tag``: UPOS of the normalised words (spaCy's Finnish morphologizer with floret vectors,
   ``spacy-fi-experimental-web-md``; stanza's own tagger when that package is missing or ``tagger="stanza"``)
   and stanza's lemmatizer (a noun, verb or adjective its training dictionary lacks gets Voikko's lemma instead of
   a seq2seq guess when Voikko is sure: ``VoikkoLemmatiser.sure_lemma``);
4. ``backoff``: simplemma's dictionary lemma for words the lemmatizer never saw in training;
5. ``morphology``: Voikko's lemma (``koodari.nlp.morphology``) for an unseen noun, verb or adjective whose lemma so
   far is no Finnish base form (``pyvoikko``; skipped when it is not installed).

Each stage works on sentences of ``Draft`` tokens; the result is an ``AnalysedText`` (``koodari.nlp.analysed``).

Models are loaded from explicit paths with ``download_method=None``: nothing is fetched, ever.
By default the models shipped in ``models/stanza`` are used; ``KOODARI_STANZA_DIR`` (or
``ModelSource.official(path)``) points koodari at a user's own copy of stanza's official Finnish models.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from koodari.errors import KoodariError
from koodari.nlp import written
from koodari.nlp.analysed import AnalysedText, AnalysedToken
from koodari.nlp.dialect_model import EXPORTED_NAME as DIALECT_MODEL
from koodari.nlp.dictionary import finnish_dictionary
from koodari.nlp.loader import (
    spacy_available,
    spacy_docs,
    spacy_load,
    stanza_document,
    stanza_pipeline,
    voikko_analyser,
    voikko_available,
)
from koodari.nlp.morphology import VoikkoLemmatiser
from koodari.nlp.normaliser import VERSION as NORMALISER_VERSION
from koodari.nlp.normaliser import Normaliser, voikko_accepts
from koodari.nlp.resources import normaliser_dir, stanza_dir
from koodari.nlp.seq2seq import Seq2SeqLemmatiser
from koodari.nlp.tokeniser import sentences as rule_sentences

MODEL_FILES = {
    "tokenize": "fi_koodari_tokenizer.pt",
    "pos": "fi_koodari_tagger.pt",
    "lemma": "fi_koodari_lemmatizer.pt",
}
# the lemmatizer exported for numpy (models/export_seq2seq.py): koodari's own models lemmatise without torch
EXPORTED_FILES = {"lemma": "fi_koodari_lemmatizer.npz"}
ENV_OFFICIAL = "KOODARI_STANZA_DIR"
SPACY_MODEL = "spacy_fi_experimental_web_md"
SPACY_PACKAGE = "spacy-fi-experimental-web-md"  # its name on PyPI, for the reinstall command
SPACY_EXCLUDE = ["tagger", "attribute_ruler", "lemmatizer", "parser", "ner"]
# also skip the vocabulary's lookup tables (word probabilities, 9 MB: 6 s of a cold start; the morphologizer
# never reads them, its UPOS on all of TDT dev is identical without them)
SPACY_LOAD_EXCLUDE = [*SPACY_EXCLUDE, "lookups"]
# the dictionary back-off is used only for these UPOS: simplemma lemmatises participles to themselves
# (otettua → otettu, UD: ottaa) and comparatives to themselves (korkeampaa → korkeampi, UD: korkea), where
# stanza's seq2seq is right more often (measured on the development split, models/eval_lemmatizer.py)
BACKOFF_UPOS = frozenset({"NOUN", "PROPN", "PRON", "NUM"})
LEMMA_MEMO_SIZE = 200_000
# a longer token (a transcript turn typed without spaces) is kept as written, not normalised, tagged or lemmatised:
# the lemmatizer's decoder and Voikko's transducer ran for minutes or crashed on a 10,000-letter token
MAX_WORD_LENGTH = 100


def spacy_tagger_available() -> bool:
    """True when spaCy's Finnish pipeline (the better UPOS tagger) is installed."""
    return spacy_available(SPACY_MODEL)


Token = AnalysedToken  # the pipeline's tokens are the analysed text's tokens


@dataclass(frozen=True)
class ModelSource:
    """Where the stanza models come from: koodari's own files, or a folder of stanza's official models."""

    kind: str  # "koodari" or "official"
    path: Path

    @classmethod
    def shipped(cls) -> ModelSource:
        return cls("koodari", stanza_dir())

    @classmethod
    def official(cls, path: str | Path) -> ModelSource:
        return cls("official", Path(path))

    @classmethod
    def default(cls) -> ModelSource:
        env = os.environ.get(ENV_OFFICIAL)
        return cls.official(env) if env else cls.shipped()

    def model_paths(self) -> dict[str, Path]:
        if self.kind == "koodari":
            return {proc: self.path / name for proc, name in MODEL_FILES.items()}
        return {}

    def exported_paths(self) -> dict[str, Path]:
        """The torch-free exports of koodari's models (none for stanza's official ones)."""
        if self.kind == "koodari":
            return {proc: self.path / name for proc, name in EXPORTED_FILES.items()}
        return {}

    def check(self) -> None:
        """Fail with a clear error naming the path when a model is missing or not a torch (or numpy) file."""
        if not self.path.is_dir():
            raise KoodariError("stanza model folder does not exist", self.path)
        if self.kind == "official" and not (self.path / "fi").is_dir():
            raise KoodariError("no Finnish ('fi') models in this stanza resources folder", self.path)
        for path in self.model_paths().values():
            if not path.is_file():
                raise KoodariError("stanza model file is missing (train it with models/train_models.py)", path)
            if not _looks_like_torch_file(path):
                raise KoodariError("stanza model file is corrupt (not a torch archive)", path)
        for path in [*self.exported_paths().values(), *_dialect_export()]:
            if not path.is_file():
                raise KoodariError("exported model file is missing (export it with: python models/export_seq2seq.py)",
                                   path)
            if not zipfile.is_zipfile(path):
                raise KoodariError("exported model file is corrupt (not an npz archive; re-export it with: python "
                                   "models/export_seq2seq.py)", path)

    def fingerprint(self) -> str:
        """A short id of the models, stored with cached lemmas so a model change invalidates the cache."""
        digest = hashlib.sha256(self.kind.encode())
        if self.kind == "koodari":
            for path in self.model_paths().values():
                stat = path.stat()
                digest.update(f"{path.name}:{stat.st_size}".encode())
                with path.open("rb") as fh:
                    digest.update(fh.read(1 << 16))
        else:
            digest.update(str(self.path.resolve()).encode())
        for path in [*self.exported_paths().values(), *_dialect_export()]:  # what lemmatises (a few MB: all of it)
            if path.is_file():
                digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()[:12]


# -- the stages -----------------------------------------------------------------------------------


@dataclass
class Word:
    """One word the tagger sees (a normalised form may be several words)."""

    text: str
    upos: str | None = None
    lemma: str = ""


@dataclass
class Draft:
    """A token on its way through the stages: spoken form and offsets, then normalised form, then words."""

    spoken: str
    start: int | None = None
    end: int | None = None
    normalised: str = ""
    words: list[Word] = field(default_factory=list)

    def finish(self) -> AnalysedToken:
        lemma = " ".join(w.lemma for w in self.words)
        upos = self.words[0].upos if len(self.words) == 1 else "+".join(w.upos or "X" for w in self.words)
        norm = self.normalised
        if norm == PLACEHOLDER and self.spoken != PLACEHOLDER:  # an empty, blank or over-long token stays as it is
            norm, lemma, upos = self.spoken, self.spoken, "X"
        return AnalysedToken(self.spoken, norm, lemma, upos or "X", self.start, self.end)


Sentences = list[list[Draft]]


class Stage(Protocol):
    """A pipeline component: takes sentences of drafts, fills in its part, returns them."""

    name: str

    def __call__(self, sentences: Sentences) -> Sentences: ...


class Tokeniser:
    """``tokenise``: raw text → sentences of drafts with character offsets: koodari's rule-based tokeniser
    (``koodari.nlp.tokeniser``; no model, no torch) when ``stanza`` is None, else stanza's tokenizer."""

    name = "tokenise"

    def __init__(self, stanza: Callable[[], Any] | None) -> None:
        self.stanza = stanza

    def __call__(self, text: str) -> Sentences:
        if not text.strip():
            return []
        if self.stanza is None:
            return [[Draft(*span) for span in sentence] for sentence in rule_sentences(text)]
        doc = self.stanza()(text)
        return [[Draft(*part) for t in s.tokens for part in _split_blank(_written(text, t), t.start_char, t.end_char)]
                for s in doc.sentences]

    def many(self, texts: list[str]) -> list[Sentences]:
        """Each text's sentences; stanza's in one call: the texts are joined by a blank line (stanza's
        paragraph break, which always ends a sentence) and the offsets mapped back into each text."""
        if self.stanza is None:
            return [self(text) for text in texts]
        starts, pos = [], 0
        for text in texts:
            starts.append(pos)
            pos += len(text) + 2
        out: list[Sentences] = [[] for _ in texts]
        for sentence in self("\n\n".join(texts)):
            if not sentence:
                continue
            i = bisect.bisect_right(starts, sentence[0].start) - 1
            if sentence[-1].end > starts[i] + len(texts[i]):  # a sentence across two texts: never seen; be safe
                return [self(t) for t in texts]
            for draft in sentence:
                draft.start -= starts[i]
                draft.end -= starts[i]
            out[i].append(sentence)
        return out


class SentenceNormaliser:
    """``normalise``: each token's standard form, a sentence at a time (the context table sees the neighbours);
    without a normaliser the spoken forms are kept. A token with no visible characters, or longer than
    ``MAX_WORD_LENGTH``, becomes a placeholder (and keeps its own form as normalised form and lemma)."""

    name = "normalise"

    def __init__(self, normaliser: Callable[[], Normaliser] | None,
                 is_word: Callable[[str], bool] = lambda word: True) -> None:
        self.normaliser = normaliser
        self.is_word = is_word  # is a lower-cased word an ordinary word (then its capitals are no acronym)

    def __call__(self, sentences: Sentences) -> Sentences:
        spoken = [[d.spoken if len(d.spoken) <= MAX_WORD_LENGTH else PLACEHOLDER for d in s] for s in sentences]
        forms = self.normaliser().normalise_sentences(spoken) if self.normaliser is not None else spoken
        for sent, norms in zip(sentences, forms, strict=True):
            for draft, norm in zip(sent, norms, strict=True):
                if norm != draft.spoken and written.written_as_is(draft.spoken, self.is_word):
                    norm = draft.spoken  # an acronym or an abbreviation: written, not spoken
                elif (head := written.acronym_head(draft.spoken)) is not None:
                    norm = written.keep_head(head, norm)
                draft.normalised = _as_words(norm, draft.spoken)
        return sentences


class WrittenForms:
    """``written``: a token with no Latin letter (a number, an emoji, another script) is its own lemma, a number or
    a symbol with a case ending the number or the symbol (*20:een* → *20*, *%:lla* → *%*); the
    lemmas of acronyms (*EU:n* → *EU*), acronym compounds (*TE-toimiston* → *TE-toimisto*,
    whatever case or letters the lemmatizer gave the acronym) and abbreviations (*Ks.* → *ks.*), as UD writes
    them (``koodari.nlp.written``). Words of the lemmatizer's training dictionary keep its lemma (*lat.* →
    *latina*), and a proper noun's initial its capital (*S.*)."""

    name = "written"

    def __init__(self, trainer: Callable[[], Any], is_word: Callable[[str], bool]) -> None:
        self.trainer = trainer
        self.is_word = is_word

    def __call__(self, sentences: Sentences) -> Sentences:
        trainer = self.trainer()
        for sent in sentences:
            for draft in sent:
                if len(draft.words) != 1:
                    continue
                word = draft.words[0]
                if not written.latin(word.text):
                    word.lemma = word.text
                    continue
                if (stem := written.symbol_stem(word.text)) is not None:  # 20:een, %:lla
                    word.lemma = stem
                    continue
                if trainer is not None and in_training(trainer, word.text, word.upos):
                    continue
                abbreviation = written.abbreviation(word.text) if word.upos != "PROPN" else None
                if (lemma := written.acronym(word.text, self.is_word) or abbreviation) is not None:
                    word.lemma = lemma
                elif (head := written.acronym_head(word.text)) is not None and word.lemma:
                    word.lemma = written.keep_head(head, word.lemma)
        return sentences


class TaggerLemmatiser:
    """``tag``: UPOS and lemma of every normalised word, all sentences in one batch. UPOS from spaCy's Finnish
    morphologizer (``upos``) and lemmas from ``lemmatise`` (the numpy port of koodari's stanza lemmatizer, or a
    stanza pipeline), or both from stanza (``upos`` is None)."""

    name = "tag"

    def __init__(self, stanza: Callable[[], Any], upos: Callable[[list[list[str]]], list[list[str]]] | None,
                 known: Callable[[str, str], str | None] | None = None,
                 lemmatise: Callable[[list[tuple[str, str]]], list[str | None]] | None = None) -> None:
        self.stanza = stanza
        self.upos = upos
        self.known = known  # a lemma that needs no seq2seq (Voikko's sure lemma), or None
        self.lemmatise = lemmatise or (lambda pairs: stanza_lemmas(stanza(), pairs))
        self._memo: dict[tuple[str, str], str | None] = {}  # (word, UPOS) -> the lemmatizer's lemma

    def __call__(self, sentences: Sentences) -> Sentences:
        for sent in sentences:
            for draft in sent:
                draft.words = [Word(w) for w in draft.normalised.split()]
        words = [[w.text for d in s for w in d.words] for s in sentences]
        if self.upos is None:
            tagged = self.stanza()(words).sentences
        else:
            tags = self.upos(words)
            lemmas = self._lemmas_for({(w, u) for ws, us in zip(words, tags, strict=True)
                                       for w, u in zip(ws, us, strict=True)})
            tagged = [_Sentence([_Word(w, u, lemmas[w, u]) for w, u in zip(ws, us, strict=True)])
                      for ws, us in zip(words, tags, strict=True)]
        for sent, tagged_sentence in zip(sentences, tagged, strict=True):
            out = iter(tagged_sentence.words)
            for draft in sent:
                for word in draft.words:
                    found = next(out)
                    word.upos, word.lemma = found.upos, fix_lemma(found.lemma, found.text)
        return sentences


    def _lemmas_for(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The lemmatizer's lemma of each (word, UPOS), each distinct pair lemmatised once and remembered: the
        lemmatizer looks at nothing but the word and its tag, and an interview repeats most of its words."""
        memo = self._memo
        if len(memo) > LEMMA_MEMO_SIZE:
            memo.clear()
        todo = sorted(pair for pair in pairs if pair not in memo)
        if todo and self.known is not None:
            rest = []
            for pair in todo:
                lemma = self.known(*pair)
                if lemma is None:
                    rest.append(pair)
                else:
                    memo[pair] = lemma
            todo = rest
        if todo:
            for pair, lemma in zip(todo, self.lemmatise(todo), strict=True):
                memo[pair] = lemma
        return memo


def stanza_lemmas(stanza: Any, pairs: list[tuple[str, str]]) -> list[str | None]:
    """The lemma of each (word, UPOS) from a stanza pipeline with a lemmatizer (pretokenized, 100 words a
    sentence)."""
    chunks = [pairs[i : i + 100] for i in range(0, len(pairs), 100)]
    doc = stanza_document([[{"id": (i,), "text": w, "upos": u} for i, (w, u) in enumerate(chunk, start=1)]
                           for chunk in chunks])
    return [word.lemma for s in stanza(doc).sentences for word in s.words]


class _Word(NamedTuple):
    text: str
    upos: str
    lemma: str | None


class _Sentence(NamedTuple):
    words: list[_Word]


class DictionaryBackoff:
    """``backoff``: for a noun, proper noun, pronoun or numeral (``BACKOFF_UPOS``) stanza's lemmatizer never saw
    in training (a seq2seq guess that leans on a weak POS tag), simplemma's dictionary lemma when simplemma
    knows the word, with ``#`` boundaries restored from the training lemmas."""

    name = "backoff"

    def __init__(self, trainer: Callable[[], Any]) -> None:
        self.trainer = trainer

    @cached_property
    def _compounds(self) -> dict[str, str]:
        trainer = self.trainer()
        return _compound_forms(trainer) if trainer is not None else {}

    def __call__(self, sentences: Sentences) -> Sentences:
        for sent in sentences:
            for draft in sent:
                for word in draft.words:
                    word.lemma = self.lemma(word)
        return sentences

    def lemma(self, word: Word) -> str:
        """The word's lemma after the back-off (the lemmatizer's own when there is no training dictionary)."""
        trainer = self.trainer()
        if trainer is None:
            return word.lemma
        if word.upos not in BACKOFF_UPOS or in_training(trainer, word.text, word.upos):
            return word.lemma
        dictionary = finnish_dictionary()
        if not dictionary.is_known(word.text):
            return word.lemma
        known = dictionary.lemmatize(word.text)
        if word.upos != "PROPN" and known[:1].isupper() and not word.text[:1].isupper():
            known = known.lower()
        return self._compounds.get(known.lower(), known) if "#" not in known else known


class MorphologyCheck:
    """``morphology``: a noun, verb or adjective the lemmatizer never saw in training keeps its lemma when Voikko
    accepts that as a base form, and otherwise gets Voikko's lemma when Voikko has exactly one (*otettua*: stanza
    *ottua*, Voikko *ottaa*). Words of the training dictionary keep the lemmatizer's lemma (without a training
    dictionary, as with stanza's official models, every word is checked)."""

    name = "morphology"

    def __init__(self, trainer: Callable[[], Any], voikko: Callable[[], VoikkoLemmatiser],
                 as_written: Callable[[str], str]) -> None:
        self.trainer = trainer
        self.voikko = voikko
        self.as_written = as_written

    def __call__(self, sentences: Sentences) -> Sentences:
        trainer = self.trainer()
        for sent in sentences:
            for draft in sent:
                for word in draft.words:
                    if trainer is not None and in_training(trainer, word.text, word.upos):
                        continue
                    lemma = self.voikko().correct(word.text, word.upos, word.lemma)
                    word.lemma = self.as_written(lemma) if lemma != word.lemma else lemma
        return sentences


# -- the pipeline -----------------------------------------------------------------------------------


class FinnishPipeline:
    """Tokenise, normalise and lemmatise Finnish text offline: ``pipeline(text)`` → ``AnalysedText``."""

    def __init__(
        self,
        source: ModelSource | None = None,
        normaliser: Normaliser | None = None,
        normalise: bool = True,
        dictionary_backoff: bool = True,
        tagger: str | None = None,
        morphology: bool | None = None,
        tokeniser: str | None = None,
    ) -> None:
        self.source = source or ModelSource.default()
        self.source.check()
        if tagger is None:
            tagger = "spacy" if self.source.kind == "koodari" and spacy_tagger_available() else "stanza"
        if tagger not in ("spacy", "stanza"):
            raise KoodariError(f"unknown tagger {tagger!r} (spacy or stanza)")
        self.tagger = tagger
        self._normaliser = normaliser
        self.normalise = normalise
        self.dictionary_backoff = dictionary_backoff
        self.morphology = voikko_available() if morphology is None else morphology
        self.calls = 0  # analyses run (tests use it to prove the cache works)
        self._lock = threading.RLock()  # stanza pipelines are shared by review's background retraining
        if tokeniser is None:  # koodari's models: the rule-based tokeniser; a user's own stanza models: stanza's
            tokeniser = "rules" if self.source.kind == "koodari" else "stanza"
        if tokeniser not in ("rules", "stanza"):
            raise KoodariError(f"unknown tokeniser {tokeniser!r} (rules or stanza)")
        self.tokeniser = Tokeniser(None if tokeniser == "rules" else lambda: self._tokenizer)
        self.stages: list[Stage] = [
            SentenceNormaliser((lambda: self.normaliser) if normalise else None, self._is_word),
            TaggerLemmatiser(lambda: self._tagger, self._spacy_upos if tagger == "spacy" else None,
                             self._sure_lemma if self.morphology else None, self._lemmatise),
        ]
        if dictionary_backoff:
            self.stages.append(DictionaryBackoff(lambda: self._lemma_trainer))
        if self.morphology:
            self.stages.append(MorphologyCheck(lambda: self._lemma_trainer, lambda: self._voikko, self._as_written))
        self.stages.append(WrittenForms(lambda: self._lemma_trainer, self._is_word))

    @property
    def pipe_names(self) -> list[str]:
        """The stages in order, as spaCy names its components."""
        return [self.tokeniser.name, *(stage.name for stage in self.stages)]

    @cached_property
    def normaliser(self) -> Normaliser:
        return self._normaliser or Normaliser.load()

    @cached_property
    def id(self) -> str:
        norm = f"v{NORMALISER_VERSION}" if self.normalise else "0"  # a new normaliser: cached analyses are stale
        flags = f"norm:{norm}+dict:{int(self.dictionary_backoff)}+tag:{self.tagger}+sent:1+written:2"
        if self.morphology:
            flags += "+voikko:1"
        if self.tokeniser.stanza is None:  # the rule-based tokeniser: analyses of stanza's tokens are stale
            flags += "+tok:rules"
        return f"stanza:{self.source.fingerprint()}+{flags}"

    def _stanza(self, processors: str, pretokenized: bool) -> Any:
        kwargs: dict = {
            "lang": "fi",
            "processors": processors,
            "download_method": None,
            "use_gpu": False,
            "logging_level": "ERROR",
            "tokenize_pretokenized": pretokenized,
            "allow_unknown_language": True,
            "dir": str(self.source.path),
        }
        if self.source.kind == "koodari":
            paths = self.source.model_paths()
            for proc in processors.split(","):
                kwargs[f"{proc}_model_path"] = str(paths[proc])
        try:
            return stanza_pipeline(**kwargs)
        except Exception as exc:  # stanza raises many kinds; the user needs the path and the reason
            raise KoodariError(f"cannot load stanza models ({type(exc).__name__}: {exc})", self.source.path) from exc

    @cached_property
    def _tokenizer(self) -> Any:
        processors = "tokenize" if self.source.kind == "koodari" else "tokenize,mwt"
        return self._stanza(processors, pretokenized=False)

    @cached_property
    def _tagger(self) -> Any:
        """stanza pipeline that lemmatises pretokenized words (and tags them, with stanza's tagger)."""
        return self._stanza("tokenize,lemma" if self.tagger == "spacy" else "tokenize,pos,lemma", pretokenized=True)

    @cached_property
    def _spacy(self) -> Any:
        try:
            return spacy_load(SPACY_MODEL, SPACY_LOAD_EXCLUDE)
        except Exception as exc:  # a broken install: name the package and the reason
            reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"  # one line, as every error
            raise KoodariError(f"cannot load spaCy's Finnish tagger from the package {SPACY_PACKAGE} ({reason}); "
                               f"reinstall it (pip install {SPACY_PACKAGE} --force-reinstall)") from exc

    def _spacy_upos(self, words: list[list[str]]) -> list[list[str]]:
        """UPOS of pretokenized sentences from spaCy's Finnish morphologizer, in one batch."""
        nlp = self._spacy
        docs = nlp.pipe(spacy_docs(nlp, words), batch_size=256)
        return [[t.pos_ or "X" for t in doc] for doc in docs]

    def _is_word(self, word: str) -> bool:
        """Is WORD (lower case) an ordinary Finnish word form: Voikko's morphology, else simplemma's dictionary."""
        return voikko_accepts(word) if self.morphology else finnish_dictionary().is_known(word)

    def _sure_lemma(self, word: str, upos: str) -> str | None:
        """Voikko's lemma of a word the lemmatizer's training dictionary lacks, when it needs no seq2seq."""
        trainer = self._lemma_trainer
        if trainer is not None and in_training(trainer, word, upos):
            return None
        lemma = self._voikko.sure_lemma(word, upos)
        return None if lemma is None else self._as_written(lemma)

    @cached_property
    def _training_lemmas(self) -> dict[str, str]:
        """Lemma without ``#`` → the lemma as the lemmatizer's training data writes it (with or without ``#``)."""
        trainer = self._lemma_trainer
        return _training_lemmas(trainer) if trainer is not None else {}

    def _as_written(self, lemma: str) -> str:
        """A Voikko lemma with UD's compound boundaries where the training data has the same lemma."""
        return self._training_lemmas.get(lemma.replace("#", ""), lemma)

    @cached_property
    def _voikko(self) -> VoikkoLemmatiser:
        try:
            return VoikkoLemmatiser(voikko_analyser())
        except Exception as exc:  # a broken install: name the package and the reason
            raise KoodariError(f"cannot load Voikko's Finnish morphology, package pyvoikko ({type(exc).__name__}: "
                               f"{exc}); reinstall it with: .venv/bin/pip install pyvoikko kfst-rs") from exc

    @cached_property
    def _lemma_trainer(self) -> Seq2SeqLemmatiser | None:
        """koodari's lemmatizer in numpy (its training dictionary and seq2seq; stanza's and torch aren't loaded),
        or None with stanza's official models."""
        paths = self.source.exported_paths()
        return Seq2SeqLemmatiser.load(paths["lemma"]) if paths else None

    def _lemmatise(self, pairs: list[tuple[str, str]]) -> list[str | None]:
        """The lemma of each (word, UPOS) after spaCy's tagger: numpy with koodari's models, stanza with official
        ones."""
        trainer = self._lemma_trainer
        return trainer.lemmatise(pairs) if trainer is not None else stanza_lemmas(self._tagger, pairs)

    def _lemma(self, word: Any) -> str:
        """The lemma of a word stanza tagged and lemmatised, after this pipeline's back-off (bench/lemma.py's
        gold-UPOS ceiling feeds stanza words straight to the lemmatizer)."""
        tagged = Word(word.text, word.upos, fix_lemma(word.lemma, word.text))
        backoff = [stage for stage in self.stages if isinstance(stage, DictionaryBackoff)]
        tagged.lemma = backoff[0].lemma(tagged) if backoff else tagged.lemma
        for stage in self.stages:
            if isinstance(stage, MorphologyCheck):
                stage([[Draft(tagged.text, words=[tagged])]])
        return tagged.lemma

    # -- entry points ----------------------------------------------------------------------------

    def __call__(self, text: str) -> AnalysedText:
        """One analysed text."""
        return self.pipe([text])[0]

    def pipe(self, texts: list[str]) -> list[AnalysedText]:
        """Analysed texts, tagged in one batch (the fast path for many texts); offsets into each text."""
        return [AnalysedText(text, tuple(tokens)) for text, tokens in zip(texts, self.analyse_many(texts), strict=True)]

    def tokenize(self, text: str) -> list[list[tuple[str, int, int]]]:
        """Sentences of (token, start, end) with character offsets into ``text``."""
        return [[(d.spoken, d.start, d.end) for d in s] for s in self.tokeniser(text)]

    def analyse(self, text: str) -> list[list[Token]]:
        """Tokenise, normalise and lemmatise raw text; one list of tokens per sentence."""
        with self._lock:
            return self._run(self.tokeniser(text))

    def analyse_pretokenized(self, sentences: list[list[str]]) -> list[list[Token]]:
        """Keep the given tokenisation (one list of tokens per sentence)."""
        with self._lock:
            return self._run([[Draft(t) for t in s] for s in sentences if s])

    def analyse_many(self, texts: list[str]) -> list[list[Token]]:
        """One flat token list per text, tagged in a single batch."""
        with self._lock:
            tokenized = self.tokeniser.many(texts)
            tagged = self._run([sent for sents in tokenized for sent in sents])
        out, i = [], 0
        for sents in tokenized:
            tokens: list[Token] = []
            for _ in sents:
                tokens.extend(tagged[i])
                i += 1
            out.append(tokens)
        return out

    def _run(self, sentences: Sentences) -> list[list[Token]]:
        """Run the stages after the tokeniser over sentences of drafts."""
        self.calls += 1
        if not sentences:
            return []
        for stage in self.stages:
            sentences = stage(sentences)
        return [[draft.finish() for draft in sent] for sent in sentences]


PLACEHOLDER = "_"
NON_BLANK = re.compile(r"\S+")


def _split_blank(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """stanza's tokenizer may join words across a space at the edge of its internal chunks (a 10,000-character
    turn): such a token is split at the spaces, each part with its own offsets."""
    if not any(ch.isspace() for ch in text) or start is None:
        return [(text, start, end)]
    return [(m.group(), start + m.start(), start + m.end()) for m in NON_BLANK.finditer(text)] or [(text, start, end)]


def _written(text: str, token: Any) -> str:
    """A token as the text writes it: stanza names a token longer than its model's limit ``<UNK>`` (a 10,000-letter
    run without spaces), but its offsets still point at the characters."""
    if token.start_char is None or token.end_char is None:
        return token.text
    return text[token.start_char : token.end_char]


def _as_words(norm: str, text: str) -> str:
    """The words to tag for one token: a token with no visible characters is tagged as a placeholder."""
    if norm.split():
        return norm
    return text if text.split() else PLACEHOLDER


def _compound_forms(trainer: Seq2SeqLemmatiser) -> dict[str, str]:
    """Plain lemma → lemma with UD compound boundaries, from the lemmatizer's own training dictionary."""
    forms: dict[str, str] = {}
    for lemma in trainer.dictionary_lemmas():
        if lemma and "#" in lemma:
            forms.setdefault(lemma.replace("#", "").lower(), lemma)
    return forms


def in_training(trainer: Seq2SeqLemmatiser, word: str, upos: str | None) -> bool:
    """True when the lemmatizer's training dictionary has a lemma for ``word`` with ``upos``."""
    return trainer.lookup(word, upos) is not None


def _training_lemmas(trainer: Seq2SeqLemmatiser) -> dict[str, str]:
    """Lemma without ``#`` → lemma as written in the lemmatizer's training dictionary (a compound with ``#`` wins
    over the same lemma without)."""
    forms: dict[str, str] = {}
    for lemma in trainer.dictionary_lemmas():
        if lemma:
            key = lemma.replace("#", "")
            if "#" in lemma or key not in forms:
                forms[key] = lemma
    return forms


def _dialect_export() -> list[Path]:
    """The shipped dialect normaliser's numpy export, when its checkpoint or the export is shipped."""
    try:
        export = normaliser_dir() / DIALECT_MODEL
    except KoodariError:  # no models folder at all: the normaliser says so when it loads
        return []
    return [export] if export.is_file() or export.with_suffix(".pt").is_file() else []


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive, or (legacy format, as stanza's tokenizer) a pickle stream."""
    if zipfile.is_zipfile(path):
        return True
    with path.open("rb") as fh:
        return fh.read(2) == b"\x80\x02" and path.stat().st_size > 1024


def fix_lemma(lemma: str | None, word: str) -> str:
    """stanza may return no lemma for odd tokens; fall back to the lower-cased word."""
    return lemma if lemma else word.lower()


def lemma_parts(lemma: str) -> list[str]:
    """Compound parts of a UD lemma: ``työ#valmentaja`` → ``['työ', 'valmentaja']``."""
    return [p for p in lemma.replace("#", " ").split() if p]
