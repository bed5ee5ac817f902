"""N-best guesses and candidate scores from the learned dialect normaliser (``skn-seq2seq.pt``, stanza's seq2seq
lemmatizer architecture and file format, trained by models/train_dialect_model.py).

``dialect_model.DialectModel`` asks stanza's pipeline for one greedy guess per word. The normaliser wants more: the
model's ``k`` best standard forms with their log-probabilities (beam search), and the log-probability of a form the
rules proposed (teacher forcing), so that the model's guesses and the rules' rewrites compete on one scale
(``Normaliser._rerank``). Both run on stanza's own model object, loaded once and only for prediction.
"""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import Any

from koodari.nlp.loader import inference_only

BATCH = 64


class BeamModel:
    """The learned model's n-best forms (``nbest``) and the scores of given forms (``score``), lower-cased."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @cached_property
    def _parts(self) -> tuple[Any, Any, Any]:
        """(torch, the seq2seq model, its character vocabulary), loaded on first use."""
        import torch
        from stanza.models.lemma.trainer import Trainer

        with inference_only():
            trainer = Trainer(model_file=str(self.path), device="cpu")
        model = trainer.model.eval()
        return torch, model, trainer.vocab["char"]

    def nbest(self, words: list[str], k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """Up to ``k`` forms per word with their log-probabilities (best first); the model's edit classifier's
        'keep the word as it is' counts for the word itself."""
        out: dict[str, list[tuple[str, float]]] = {}
        ordered = sorted(set(words), key=len)  # batches of similar length decode in fewer steps
        with self._lock:
            torch = self._parts[0]
            with torch.no_grad():
                for i in range(0, len(ordered), BATCH):
                    out.update(self._beam(ordered[i : i + BATCH], k))
        return out

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """log P(form | word) for each (word, form) pair (the form's characters and its end, and the edit
        classifier's 'rewrite')."""
        scores: list[float] = []
        with self._lock:
            torch = self._parts[0]
            with torch.no_grad():
                for i in range(0, len(pairs), 4 * BATCH):
                    scores += self._forced(pairs[i : i + 4 * BATCH])
        return scores

    def _encode(self, words: list[str]) -> tuple[Any, ...]:
        """Encoder states for words sorted longest first (as the packed LSTM wants): (order, src, mask, h_in, hn,
        cn, edit log-probabilities)."""
        from stanza.models.common import seq2seq_constant as C  # noqa: N812

        torch, model, char = self._parts
        seqs = [char.map([C.SOS, *w, C.EOS]) for w in words]
        order = sorted(range(len(words)), key=lambda i: -len(seqs[i]))
        src = torch.zeros(len(words), max(map(len, seqs)), dtype=torch.long)
        for row, i in enumerate(order):
            src[row, : len(seqs[i])] = torch.tensor(seqs[i])
        enc_inputs, _, lens, mask = model.embed(src, src.eq(C.PAD_ID), None, None)
        h_in, (hn, cn) = model.encode(enc_inputs, lens)
        edit = torch.log_softmax(model.edit_clf(hn), -1) if model.edit else None
        return order, src, mask, h_in, hn, cn, edit

    def _beam(self, words: list[str], k: int) -> dict[str, list[tuple[str, float]]]:
        from stanza.models.common import seq2seq_constant as C  # noqa: N812

        torch, model, char = self._parts
        order, src, mask, h_in, hn, cn, edit = self._encode(words)
        b = len(words)
        rep = lambda x: x.repeat_interleave(k, 0)  # noqa: E731 (row b*k + j: word b's j-th hypothesis)
        h_in, mask, src, hn, cn = rep(h_in), rep(mask), rep(src), rep(hn), rep(cn)
        scores = torch.full((b, k), -1e9)
        scores[:, 0] = 0.0
        tokens = torch.full((b * k, 1), C.SOS_ID, dtype=torch.long)
        history = torch.zeros(b, k, 0, dtype=torch.long)
        done_scores, done_steps = [], []  # per step: (b, k) scores of hypotheses that end there, and their tokens
        base = torch.arange(b).unsqueeze(1) * k
        for _ in range(src.size(1) + 8):
            inputs = tokens.clone()
            inputs[inputs >= model.vocab_size] = C.UNK_ID
            log_probs, (hn, cn) = model.decode(model.embedding(inputs), hn, cn, h_in, mask, src=src)
            log_probs = log_probs.squeeze(1)
            vocab = log_probs.size(1)
            total = scores.view(-1, 1) + log_probs
            done_scores.append(total[:, C.EOS_ID].view(b, k).clone())
            done_steps.append(history)
            total[:, C.EOS_ID] = -1e9
            total[:, C.PAD_ID] = -1e9
            top, index = total.view(b, k * vocab).topk(k, dim=1)
            origin, token = index // vocab, index % vocab
            scores, tokens = top, token.reshape(-1, 1)
            history = torch.cat([history.gather(1, origin.unsqueeze(2).expand(-1, -1, history.size(2))),
                                 token.unsqueeze(2)], dim=2)
            hn, cn = hn[(base + origin).view(-1)], cn[(base + origin).view(-1)]
            finished = torch.cat(done_scores, dim=1)
            kth = finished.topk(min(k, finished.size(1)), dim=1).values[:, -1]
            if bool((scores.max(dim=1).values < kth).all()):
                break  # no open hypothesis can enter any word's k best: scores only fall
        finished = torch.cat(done_scores, dim=1)
        best, where = finished.topk(min(k, finished.size(1)), dim=1)
        out: dict[str, list[tuple[str, float]]] = {}
        for row, i in enumerate(order):
            word = words[i]
            forms: dict[str, float] = {}
            rewrite = edit[row, 0].item() if edit is not None else 0.0
            for score, at in zip(best[row].tolist(), where[row].tolist(), strict=True):
                step, j = divmod(at, k)
                if score < -1e8:
                    continue
                form = "".join(char.unmap(done_steps[step][row, j].tolist()))
                if form and C.UNK not in form and form not in forms:
                    forms[form] = score + rewrite
            if edit is not None:  # the edit classifier may keep the word as it is
                keep = float(torch.logsumexp(edit[row, 1:], 0))
                forms[word] = float(torch.logaddexp(torch.tensor(forms.get(word, -1e9)), torch.tensor(keep)))
            out[word] = sorted(forms.items(), key=lambda x: -x[1])[:k]
        return out

    def _forced(self, pairs: list[tuple[str, str]]) -> list[float]:
        from stanza.models.common import seq2seq_constant as C  # noqa: N812

        torch, model, char = self._parts
        order, src, mask, h_in, hn, cn, edit = self._encode([w for w, _ in pairs])
        targets = [char.map([*pairs[i][1], C.EOS]) for i in order]
        length = max(map(len, targets))
        inputs = torch.zeros(len(pairs), length, dtype=torch.long)
        gold = torch.zeros(len(pairs), length, dtype=torch.long)
        for row, target in enumerate(targets):
            inputs[row, : len(target)] = torch.tensor([C.SOS_ID, *target[:-1]])
            gold[row, : len(target)] = torch.tensor(target)
        inputs[inputs >= model.vocab_size] = C.UNK_ID
        log_probs, _ = model.decode(model.embedding(inputs), hn, cn, h_in, mask, src=src)
        picked = log_probs.gather(2, gold.unsqueeze(2)).squeeze(2).masked_fill(gold.eq(C.PAD_ID), 0.0).sum(1)
        if edit is not None:
            picked = picked + edit[:, 0]
        scores = [0.0] * len(pairs)
        for row, i in enumerate(order):
            scores[i] = float(picked[row])
        return scores
