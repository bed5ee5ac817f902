"""The learned character-level normaliser: stanza's seq2seq lemmatizer architecture trained on SKN's dialect →
standard pairs (models/train_dialect_model.py), run in numpy from its export (``skn-seq2seq.npz``, written by
models/export_seq2seq.py from the checkpoint ``skn-seq2seq.pt``): no torch or stanza. It only proposes; the
normaliser keeps a guess when the guess is a standard word form (see ``Normaliser.normalise_sentences``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from koodari.errors import KoodariError
from koodari.nlp.seq2seq import Seq2SeqLemmatiser

MODEL_NAME = "skn-seq2seq.pt"  # the trained checkpoint (stanza's format)
EXPORTED_NAME = "skn-seq2seq.npz"  # what koodari loads


class DialectModel:
    """Batch guesses of standard forms for spoken forms (lower-cased in, lower-cased out)."""

    def __init__(self, path: Path) -> None:
        self.path = path  # the exported .npz

    @cached_property
    def _model(self) -> Seq2SeqLemmatiser:
        return Seq2SeqLemmatiser.load(self.path)

    def guess(self, words: list[str]) -> list[str]:
        """One guess per word, in one batch (each word's lemma with the UPOS ``X`` it was trained with)."""
        if not words:
            return []
        return [lemma.lower() for lemma in self._model.lemmatise([(w, "X") for w in words])]


def shipped_model(folder: Path) -> DialectModel | None:
    """The model in ``folder``, or None when the folder has none. A checkpoint without its export is refused in
    one line naming the missing file."""
    export = folder / EXPORTED_NAME
    if export.is_file():
        return DialectModel(export)
    if (folder / MODEL_NAME).is_file():
        raise KoodariError("exported dialect model is missing (export it with: python models/export_seq2seq.py "
                           f"{folder / MODEL_NAME})", export)
    return None
