"""Offline Finnish lemmatisation: stanza's tokenizer, tagger and lemmatizer behind the dialect normaliser.

Flow: text → stanza tokenizer (tokens with character offsets) → normaliser (standard forms, a sentence at a
time so that a neighbouring word can decide a reading) → UPOS tagger on the normalised words (spaCy's Finnish
morphologizer with floret vectors, ``spacy-fi-experimental-web-md``; stanza's own tagger when that package is
missing or ``tagger="stanza"``) → stanza's lemmatizer → ``Token(text, normalised, lemma, upos)``.

Models are loaded from explicit paths with ``download_method=None``: nothing is fetched, ever.
By default the models shipped in ``models/stanza`` are used; ``KOODARI_STANZA_DIR`` (or
``ModelSource.official(path)``) points koodari at a user's own copy of stanza's official Finnish models.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import re
import threading
import zipfile
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from koodari.errors import KoodariError
from koodari.nlp.inference import inference_only
from koodari.nlp.normaliser import Normaliser

MODEL_FILES = {
    "tokenize": "fi_koodari_tokenizer.pt",
    "pos": "fi_koodari_tagger.pt",
    "lemma": "fi_koodari_lemmatizer.pt",
}
ENV_OFFICIAL = "KOODARI_STANZA_DIR"
SPACY_MODEL = "spacy_fi_experimental_web_md"
# the dictionary back-off is used only for these UPOS: simplemma lemmatises participles to themselves
# (otettua → otettu, UD: ottaa) and comparatives to themselves (korkeampaa → korkeampi, UD: korkea), where
# stanza's seq2seq is right more often (measured on the development split, models/eval_lemmatizer.py)
BACKOFF_UPOS = frozenset({"NOUN", "PROPN", "PRON", "NUM"})
SPACY_EXCLUDE = ["tagger", "attribute_ruler", "lemmatizer", "parser", "ner"]
# also skip the vocabulary's lookup tables (word probabilities, 9 MB: 6 s of a cold start; the morphologizer
# never reads them, its UPOS on all of TDT dev is identical without them)
SPACY_LOAD_EXCLUDE = [*SPACY_EXCLUDE, "lookups"]


def spacy_tagger_available() -> bool:
    """True when spaCy's Finnish pipeline (the better UPOS tagger) is installed."""
    import importlib.util

    return importlib.util.find_spec(SPACY_MODEL) is not None


@dataclass(frozen=True)
class Token:
    text: str
    normalised: str
    lemma: str
    upos: str
    start: int | None = None
    end: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelSource:
    """Where the stanza models come from: koodari's own files, or a folder of stanza's official models."""

    kind: str  # "koodari" or "official"
    path: Path

    @classmethod
    def shipped(cls) -> ModelSource:
        from koodari.corpus import data_root

        return cls("koodari", data_root("models") / "stanza")

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

    def check(self) -> None:
        """Fail with a clear error naming the path when a model is missing or not a torch file."""
        if not self.path.is_dir():
            raise KoodariError("stanza model folder does not exist", self.path)
        if self.kind == "official":
            if not (self.path / "fi").is_dir():
                raise KoodariError("no Finnish ('fi') models in this stanza resources folder", self.path)
            return
        for path in self.model_paths().values():
            if not path.is_file():
                raise KoodariError("stanza model file is missing (train it with models/train_models.py)", path)
            if not _looks_like_torch_file(path):
                raise KoodariError("stanza model file is corrupt (not a torch archive)", path)

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
        return digest.hexdigest()[:12]


class FinnishPipeline:
    """Tokenise, normalise and lemmatise Finnish text offline."""

    def __init__(
        self,
        source: ModelSource | None = None,
        normaliser: Normaliser | None = None,
        normalise: bool = True,
        dictionary_backoff: bool = True,
        tagger: str | None = None,
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
        self.calls = 0  # analyses run (tests use it to prove the cache works)
        self._lock = threading.RLock()  # stanza pipelines are shared by review's background retraining
        self._lemma_memo: dict[tuple[str, str], str | None] = {}  # (word, UPOS) -> stanza's lemma

    @cached_property
    def normaliser(self) -> Normaliser:
        return self._normaliser or Normaliser.load()

    @cached_property
    def id(self) -> str:
        flags = f"norm:{int(self.normalise)}+dict:{int(self.dictionary_backoff)}+tag:{self.tagger}+sent:1"
        return f"stanza:{self.source.fingerprint()}+{flags}"

    def _stanza(self, processors: str, pretokenized: bool):
        import stanza

        logging.getLogger("stanza").setLevel(logging.ERROR)
        kwargs: dict = {
            "lang": "fi",
            "processors": processors,
            "download_method": None,
            "use_gpu": False,
            "logging_level": "ERROR",
            "tokenize_pretokenized": pretokenized,
            "allow_unknown_language": True,
        }
        if self.source.kind == "koodari":
            kwargs["dir"] = str(self.source.path)
            paths = self.source.model_paths()
            for proc in processors.split(","):
                kwargs[f"{proc}_model_path"] = str(paths[proc])
        else:
            kwargs["dir"] = str(self.source.path)
        try:
            with inference_only():
                return stanza.Pipeline(**kwargs)
        except Exception as exc:  # stanza raises many kinds; the user needs the path and the reason
            raise KoodariError(f"cannot load stanza models ({type(exc).__name__}: {exc})", self.source.path) from exc

    @cached_property
    def _tokenizer(self):
        processors = "tokenize" if self.source.kind == "koodari" else "tokenize,mwt"
        return self._stanza(processors, pretokenized=False)

    @cached_property
    def _tagger(self):
        """stanza pipeline that lemmatises pretokenized words (and tags them, with stanza's tagger)."""
        return self._stanza("tokenize,lemma" if self.tagger == "spacy" else "tokenize,pos,lemma", pretokenized=True)

    @cached_property
    def _spacy(self):
        import spacy

        try:
            return spacy.load(SPACY_MODEL, exclude=SPACY_LOAD_EXCLUDE)
        except Exception as exc:  # a broken install: name the package and the reason
            reason = f"{type(exc).__name__}: {exc}"
            raise KoodariError(f"cannot load spaCy's Finnish tagger {SPACY_MODEL} ({reason})") from exc

    def _spacy_upos(self, words: list[list[str]]) -> list[list[str]]:
        """UPOS of pretokenized sentences from spaCy's Finnish morphologizer, in one batch."""
        from spacy.tokens import Doc

        nlp = self._spacy
        docs = nlp.pipe((Doc(nlp.vocab, words=ws) for ws in words), batch_size=256)
        return [[t.pos_ or "X" for t in doc] for doc in docs]

    def _lemmatise_words(self, words: list[list[str]]):
        """Sentences (each with ``.words``: text, upos, lemma) of tagged and lemmatised words."""
        if self.tagger == "stanza":
            return self._tagger(words).sentences
        tags = self._spacy_upos(words)
        pairs = {(w, u) for ws, us in zip(words, tags, strict=True) for w, u in zip(ws, us, strict=True)}
        lemmas = self._lemmas_for(pairs)
        return [_Sentence([_Word(w, u, lemmas[w, u]) for w, u in zip(ws, us, strict=True)])
                for ws, us in zip(words, tags, strict=True)]

    def _lemmas_for(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """stanza's lemma of each (word, UPOS), each distinct pair lemmatised once and remembered: the lemmatizer
        looks at nothing but the word and its tag, and an interview repeats most of its words."""
        from stanza.models.common.doc import Document

        memo = self._lemma_memo
        if len(memo) > LEMMA_MEMO_SIZE:
            memo.clear()
        todo = sorted(pair for pair in pairs if pair not in memo)
        if todo:
            chunks = [todo[i : i + 100] for i in range(0, len(todo), 100)]
            doc = Document([[{"id": (i,), "text": w, "upos": u} for i, (w, u) in enumerate(chunk, start=1)]
                            for chunk in chunks])
            for word, pair in zip((w for s in self._tagger(doc).sentences for w in s.words), todo, strict=True):
                memo[pair] = word.lemma
        return memo

    @cached_property
    def _lemma_trainer(self):
        return self._tagger.processors["lemma"]._trainer if self.source.kind == "koodari" else None

    @cached_property
    def _compounds(self) -> dict[str, str]:
        return _compound_forms(self._lemma_trainer) if self._lemma_trainer is not None else {}

    def _lemma(self, word) -> str:
        """stanza's lemma; for a noun, proper noun, pronoun or numeral its lemmatizer never saw in training,
        simplemma's dictionary lemma when simplemma knows the word, with `#` boundaries restored from the
        training lemmas (see BACKOFF_UPOS)."""
        lemma = fix_lemma(word.lemma, word.text)
        trainer = self._lemma_trainer
        if not self.dictionary_backoff or trainer is None:
            return lemma
        form = word.text.lower() if trainer.caseless else word.text
        if word.upos not in BACKOFF_UPOS or trainer._lookup(form, word.upos) is not None:
            return lemma
        import simplemma

        if not simplemma.is_known(word.text, lang="fi", low_memory=True):  # see resources.load_normaliser_resources
            return lemma
        known = simplemma.lemmatize(word.text, lang="fi", low_memory=True)
        if word.upos != "PROPN" and known[:1].isupper() and not word.text[:1].isupper():
            known = known.lower()
        return self._compounds.get(known.lower(), known) if "#" not in known else known

    def tokenize(self, text: str) -> list[list[tuple[str, int, int]]]:
        """Sentences of (token, start, end) with character offsets into ``text``."""
        if not text.strip():
            return []
        doc = self._tokenizer(text)
        return [[part for t in s.tokens for part in _split_blank(t.text, t.start_char, t.end_char)]
                for s in doc.sentences]

    def tokenize_many(self, texts: list[str]) -> list[list[list[tuple[str, int, int]]]]:
        """``tokenize`` of each text, in one stanza call: the texts are joined by a blank line (stanza's
        paragraph break, which always ends a sentence) and the offsets mapped back into each text."""
        starts, pos = [], 0
        for text in texts:
            starts.append(pos)
            pos += len(text) + 2
        out: list[list[list[tuple[str, int, int]]]] = [[] for _ in texts]
        joined = "\n\n".join(texts)
        if not joined.strip():
            return out
        for sentence in self.tokenize(joined):
            if not sentence:
                continue
            i = bisect.bisect_right(starts, sentence[0][1]) - 1
            if sentence[-1][2] > starts[i] + len(texts[i]):  # a sentence across two texts: never seen; be safe
                return [self.tokenize(t) for t in texts]
            out[i].append([(t, a - starts[i], b - starts[i]) for t, a, b in sentence])
        return out

    def analyse(self, text: str) -> list[list[Token]]:
        """Tokenise, normalise and lemmatise raw text; one list of tokens per sentence."""
        with self._lock:
            return self._tag(self.tokenize(text))

    def analyse_pretokenized(self, sentences: list[list[str]]) -> list[list[Token]]:
        """Keep the given tokenisation (one list of tokens per sentence)."""
        with self._lock:
            return self._tag([[(t, None, None) for t in s] for s in sentences if s])

    def analyse_many(self, texts: list[str]) -> list[list[Token]]:
        """One flat token list per text, tagged in a single batch (the fast path for many units)."""
        with self._lock:
            tokenized = self.tokenize_many(texts)
            flat = [sent for sents in tokenized for sent in sents]
            tagged = self._tag(flat)
        out, i = [], 0
        for sents in tokenized:
            tokens: list[Token] = []
            for _ in sents:
                tokens.extend(tagged[i])
                i += 1
            out.append(tokens)
        return out

    def _tag(self, sentences: list[list[tuple[str, int | None, int | None]]]) -> list[list[Token]]:
        self.calls += 1
        if not sentences:
            return []
        spoken = [[t for t, _, _ in s] for s in sentences]
        forms = self.normaliser.normalise_sentences(spoken) if self.normalise else spoken
        normalised = [
            [_as_words(n, t) for n, t in zip(ns, ts, strict=True)] for ns, ts in zip(forms, spoken, strict=True)
        ]
        # a normalised form may be several words ("niinku" → "niin kuin"): tag the words, join the lemmas
        words = [[w for form in s for w in form.split()] for s in normalised]
        tagged_sentences = self._lemmatise_words(words)
        out: list[list[Token]] = []
        for sent, norms, tagged in zip(sentences, normalised, tagged_sentences, strict=True):
            tagged_words = iter(tagged.words)
            tokens = []
            for (text, start, end), norm in zip(sent, norms, strict=True):
                parts = [next(tagged_words) for _ in norm.split()]
                lemma = " ".join(self._lemma(p) for p in parts)
                upos = parts[0].upos if len(parts) == 1 else "+".join(p.upos or "X" for p in parts)
                if norm == PLACEHOLDER and text != PLACEHOLDER:  # an empty or blank token stays as it is
                    norm, lemma = text, text
                tokens.append(Token(text, norm, lemma, upos or "X", start, end))
            out.append(tokens)
        return out


PLACEHOLDER = "_"
LEMMA_MEMO_SIZE = 200_000


class _Word(NamedTuple):
    text: str
    upos: str
    lemma: str | None


class _Sentence(NamedTuple):
    words: list[_Word]
NON_BLANK = re.compile(r"\S+")


def _split_blank(text: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """stanza's tokenizer may join words across a space at the edge of its internal chunks (a 10,000-character
    turn): such a token is split at the spaces, each part with its own offsets."""
    if not any(ch.isspace() for ch in text) or start is None:
        return [(text, start, end)]
    return [(m.group(), start + m.start(), start + m.end()) for m in NON_BLANK.finditer(text)] or [(text, start, end)]


def _as_words(norm: str, text: str) -> str:
    """The words to tag for one token: a token with no visible characters is tagged as a placeholder."""
    if norm.split():
        return norm
    return text if text.split() else PLACEHOLDER


def _compound_forms(trainer) -> dict[str, str]:
    """Plain lemma → lemma with UD compound boundaries, from the lemmatizer's own training dictionary."""
    forms: dict[str, str] = {}
    for entries in trainer.pos_dict.values():
        for lemma in entries.values():
            if lemma and "#" in lemma:
                forms.setdefault(lemma.replace("#", "").lower(), lemma)
    return forms


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
