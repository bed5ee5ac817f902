"""The learned character-level normaliser: stanza's seq2seq lemmatizer architecture trained on SKN's dialect →
standard pairs (models/train_dialect_model.py). It only proposes; the normaliser keeps a guess when the
guess is a standard word form (see ``Normaliser.normalise_sentences``)."""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from pathlib import Path

MODEL_NAME = "skn-seq2seq.pt"


class DialectModel:
    """Batch guesses of standard forms for spoken forms (lower-cased in, lower-cased out)."""

    def __init__(self, path: Path, tokenizer_path: Path) -> None:
        self.path = path
        self.tokenizer_path = tokenizer_path
        self._lock = threading.Lock()

    @cached_property
    def _pipeline(self):
        import stanza

        from koodari.nlp.inference import inference_only

        logging.getLogger("stanza").setLevel(logging.ERROR)
        with inference_only():
            return stanza.Pipeline(
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
        from stanza.models.common.doc import Document

        sentences = [words[i : i + 50] for i in range(0, len(words), 50)]
        doc = Document(
            [[{"id": (j,), "text": w, "upos": "X"} for j, w in enumerate(ws, start=1)] for ws in sentences]
        )
        with self._lock:
            tagged = self._pipeline(doc)
        return [(w.lemma or w.text).lower() for s in tagged.sentences for w in s.words]


def shipped_model(folder: Path) -> DialectModel | None:
    """The shipped model, or None when it (or the tokenizer stanza wants beside it) is missing."""
    from koodari.corpus import data_root

    path = folder / MODEL_NAME
    tokenizer = data_root("models") / "stanza" / "fi_koodari_tokenizer.pt"
    return DialectModel(path, tokenizer) if path.is_file() and tokenizer.is_file() else None
