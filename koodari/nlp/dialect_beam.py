"""N-best guesses and candidate scores from the learned dialect normaliser, in numpy: no torch or stanza.

``dialect_model.DialectModel`` asks for one greedy guess per word. The normaliser wants more: the model's ``k``
best standard forms with their log-probabilities (beam search), and the log-probability of a form the rules
proposed (teacher forcing), so that the model's guesses and the rules' rewrites compete on one scale
(``Normaliser._rerank``). Both run on the export ``skn-seq2seq.npz`` (``Seq2SeqLemmatiser.nbest`` and ``.score``)
and give what the torch version over stanza's model gives (bench/dialect_beam.py compares them).
"""

from __future__ import annotations

import threading
from pathlib import Path

from koodari.nlp.seq2seq import Seq2SeqLemmatiser


class BeamModel:
    """The learned model's n-best forms (``nbest``) and the scores of given forms (``score``). ``path`` is the
    checkpoint (``skn-seq2seq.pt``: its export beside it is read) or the export itself; a missing or damaged
    export is a one-line ``KoodariError`` on first use. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.export = self.path if self.path.suffix == ".npz" else self.path.with_suffix(".npz")
        self._lock = threading.Lock()
        self._model: Seq2SeqLemmatiser | None = None

    def _loaded(self) -> Seq2SeqLemmatiser:
        """The exported model, loaded on first use (the caller holds the lock)."""
        if self._model is None:
            self._model = Seq2SeqLemmatiser.load(self.export)
        return self._model

    def nbest(self, words: list[str], k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """Up to ``k`` forms per word with their log-probabilities (best first); the model's edit classifier's
        'keep the word as it is' counts for the word itself."""
        with self._lock:
            return self._loaded().nbest(words, k)

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """log P(form | word) for each (word, form) pair (the form's characters and its end, and the edit
        classifier's 'rewrite')."""
        with self._lock:
            return self._loaded().score(pairs)
