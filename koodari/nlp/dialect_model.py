"""The learned character-level normaliser: stanza's seq2seq lemmatizer architecture trained on SKN's dialect →
standard pairs (models/train_dialect_model.py). It only proposes; the normaliser keeps a guess when the
guess is a standard word form (see ``Normaliser.normalise_sentences``)."""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from koodari.nlp.loader import stanza_document, stanza_pipeline

MODEL_NAME = "skn-seq2seq.pt"


class DialectModel:
    """Batch guesses of standard forms for spoken forms (lower-cased in, lower-cased out)."""

    def __init__(self, path: Path, tokenizer_path: Path) -> None:
        self.path = path
        self.tokenizer_path = tokenizer_path
        self._lock = threading.Lock()

    @cached_property
    def _pipeline(self):
        return stanza_pipeline(
            lang="fi",
            processors="tokenize,lemma",
            dir=str(self.tokenizer_path.parent),
            tokenize_model_path=str(self.tokenizer_path),
            lemma_model_path=str(self.path),
            tokenize_pretokenized=True,
            download_method=None,
            use_gpu=False,
            logging_level="ERROR",
            allow_unknown_language=True,
        )

    def guess(self, words: list[str]) -> list[str]:
        """One guess per word, in one batch."""
        if not words:
            return []
        sentences = [words[i : i + 50] for i in range(0, len(words), 50)]
        doc = stanza_document(
            [[{"id": (j,), "text": w, "upos": "X"} for j, w in enumerate(ws, start=1)] for ws in sentences]
        )
        with self._lock:
            tagged = self._pipeline(doc)
        return [(w.lemma or w.text).lower() for s in tagged.sentences for w in s.words]


def shipped_model(folder: Path, stanza_models: Path) -> DialectModel | None:
    """The model in ``folder``, or None when it (or the tokenizer in ``stanza_models`` that stanza wants beside
    it) is missing."""
    path = folder / MODEL_NAME
    tokenizer = stanza_models / "fi_koodari_tokenizer.pt"
    return DialectModel(path, tokenizer) if path.is_file() and tokenizer.is_file() else None
