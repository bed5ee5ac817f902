"""stanza's seq2seq lemmatizer, inference only, in numpy: no torch or stanza at run time.

A port of what ``stanza.Pipeline(processors="tokenize,lemma")`` does with a pretokenized, tagged document and a
lemmatizer checkpoint (stanza 1.15: ``models/lemma/trainer.py``, ``models/common/seq2seq_model.py``,
``pipeline/lemma_processor.py``), for the settings koodari's checkpoints use: the training dictionary first
(``ensemble_dict``: a (word, UPOS) entry, then the word alone), and for the rest a character-level encoder-decoder
(a bi-LSTM encoder over ``<SOS>`` + characters + ``<EOS>``, the UPOS embedding in front when ``pos`` is set, an
LSTM decoder with soft dot attention, greedy decoding, a copy gate, and an edit classifier that may say
"the word itself" or "the word lower-cased"). ``caseless`` models look words up and decode them lower-cased.

For the dialect normaliser (``koodari.nlp.dialect_beam``) it also gives a word's n-best forms by beam search
(``nbest``) and the log-probability of a given form by teacher forcing (``score``), as the torch version over stanza's
model did (bench/dialect_beam.py compares them).

The weights, vocabularies and dictionary come from a ``.npz`` written by ``models/export_seq2seq.py`` from the
stanza checkpoint (arrays, and one JSON document as bytes; never pickle). Arithmetic is float32 as in torch, so
the lemmas are stanza's (bench/seq2seq.py compares them on every distinct word of TDT dev).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from koodari.errors import KoodariError

PAD_ID, UNK_ID, SOS_ID, EOS_ID = 0, 1, 2, 3
UNK = "<UNK>"
POS_INDEPENDENT = "*"  # the dictionary's entries for a word whatever its UPOS
MASKED = np.float32(-1e12)  # stanza's -INFINITY_NUMBER for padded source positions
FORMAT = 1  # the exported file's layout (models/export_seq2seq.py)
CHUNK = 256  # words decoded at once (sorted by length, so little padding)
BEAM_BATCH = 64  # words per beam search (the reference's batches: a batch's longest word bounds its steps)
NEG = np.float32(-1e9)  # the beam's "no hypothesis" score
SETTINGS = ("hidden_dim", "emb_dim", "num_layers", "max_dec_len", "beam_size", "attn_type", "pos", "edit", "copy",
            "ensemble_dict", "dict_only", "caseless", "charlm", "vocab_size")
WEIGHTS = ("embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0",
           "encoder.bias_hh_l0", "encoder.weight_ih_l0_reverse", "encoder.weight_hh_l0_reverse",
           "encoder.bias_ih_l0_reverse", "encoder.bias_hh_l0_reverse", "decoder.lstm_cell.weight_ih",
           "decoder.lstm_cell.weight_hh", "decoder.lstm_cell.bias_ih", "decoder.lstm_cell.bias_hh",
           "decoder.attention_layer.linear_in.weight", "decoder.attention_layer.linear_out.weight",
           "dec2vocab.weight", "dec2vocab.bias")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.float32(1) / (np.float32(1) + np.exp(-x))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _lstm_step(x_gates: np.ndarray, h: np.ndarray, c: np.ndarray, w_hh: np.ndarray,
               b_hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step (torch's gate order i, f, g, o) given the input's share of the gates."""
    gates = x_gates + (h @ w_hh.T + b_hh)
    i, f, g, o = np.split(gates, 4, axis=1)
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def _top(x: np.ndarray, k: int) -> np.ndarray:
    """The column indices of each row's ``k`` largest values, largest first (equal values: the lower index first;
    which of several equal values at the ``k``-th place is kept is unspecified, as with torch's ``topk``)."""
    if k < x.shape[1]:
        part = np.argpartition(-x, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(x.shape[1]), x.shape)
    values = np.take_along_axis(x, part, axis=1)
    order = np.lexsort((part, -values), axis=1)
    return np.take_along_axis(part, order, axis=1)


class Seq2SeqLemmatiser:
    """A stanza lemmatizer checkpoint's dictionary and seq2seq model: ``lemmatise([(word, upos), ...])``."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], chars: list[str], pos: list[str],
                 pos_dict: dict[str, dict[str, str]], name: str = "seq2seq") -> None:
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.config = config
        self.chars = chars
        self.char_ids = {c: i for i, c in enumerate(chars)}
        self.pos_ids = {p: i for i, p in enumerate(pos)}
        self.pos_dict = pos_dict
        self.name = name
        self.caseless = bool(config.get("caseless", False))
        self.use_pos = bool(config.get("pos", False))
        self.vocab_size = len(chars)
        self.max_len = int(config["max_dec_len"])

    # -- loading ------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> Seq2SeqLemmatiser:
        """The lemmatizer exported to ``path``; a missing or damaged file is a one-line ``KoodariError``."""
        if not path.is_file():
            raise KoodariError("exported lemmatizer is missing (export it with: python models/export_seq2seq.py)",
                               path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            meta = json.loads(arrays.pop("meta.json").tobytes().decode("utf-8"))
            model = cls(arrays, meta["config"], meta["chars"], meta["pos"], meta["pos_dict"], path.name)
            model._validate(meta.get("format"))
        except KoodariError:
            raise
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, UnicodeDecodeError, EOFError) as exc:
            raise KoodariError(f"exported lemmatizer is damaged ({type(exc).__name__}: {exc}); re-export it with: "
                               "python models/export_seq2seq.py", path) from exc
        return model

    def _validate(self, fmt: Any) -> None:
        """The file's layout and settings are the ones this port reproduces, and the arrays fit together."""
        if fmt != FORMAT:
            raise ValueError(f"format {fmt!r}, expected {FORMAT}")
        cfg = self.config
        unsupported = [key for key, want in (("beam_size", 1), ("attn_type", "soft"), ("num_layers", 1),
                                             ("charlm", False), ("dict_only", False), ("edit", True),
                                             ("copy", True), ("ensemble_dict", True)) if cfg.get(key) != want]
        if unsupported:
            raise ValueError(f"settings this port does not reproduce: {', '.join(unsupported)}")
        needed = [*WEIGHTS, "edit_clf.0.weight", "edit_clf.0.bias", "edit_clf.2.weight", "edit_clf.2.bias",
                  "copy_gate.weight", "copy_gate.bias", *(["pos_embedding.weight"] if self.use_pos else [])]
        missing = [key for key in needed if key not in self.w]
        if missing:
            raise ValueError(f"arrays missing: {', '.join(missing)}")
        hidden, emb = int(cfg["hidden_dim"]), int(cfg["emb_dim"])
        shapes = {"embedding.weight": (self.vocab_size, emb), "encoder.weight_hh_l0": (2 * hidden, hidden // 2),
                  "decoder.lstm_cell.weight_hh": (4 * hidden, hidden), "dec2vocab.weight": (self.vocab_size, hidden)}
        for key, shape in shapes.items():
            if self.w[key].shape != shape:
                raise ValueError(f"{key} has shape {self.w[key].shape}, expected {shape}")
        if not all(isinstance(v, dict) for v in self.pos_dict.values()):
            raise ValueError("dictionary is not {upos: {word: lemma}}")

    # -- the dictionary -----------------------------------------------------------------------------

    def lookup(self, word: str, upos: str | None) -> str | None:
        """The training dictionary's lemma: the (word, UPOS) entry, else the word's; None when neither
        (stanza's ``Trainer._lookup``; the word lower-cased first for a caseless model)."""
        if self.caseless:
            word = word.lower()
        entries = self.pos_dict.get(upos) if upos is not None else None
        if entries is not None:
            lemma = entries.get(word)
            if lemma is not None:
                return lemma
        fallback = self.pos_dict.get(POS_INDEPENDENT)
        return fallback.get(word) if fallback is not None else None

    def dictionary_lemmas(self) -> Iterable[str]:
        """Every lemma in the training dictionary."""
        for entries in self.pos_dict.values():
            yield from entries.values()

    # -- lemmatising --------------------------------------------------------------------------------

    def lemmatise(self, pairs: Sequence[tuple[str, str | None]]) -> list[str]:
        """The lemma of each (word, UPOS) as stanza's lemma processor gives it: the dictionary's, else the
        seq2seq's (``_`` for an empty word, as stanza)."""
        upos = [u if u is not None else "_" for _, u in pairs]  # stanza's DataLoader.resolve_none
        known = [self.lookup(w, u) for (w, _), u in zip(pairs, upos, strict=True)]
        todo = [i for i, lemma in enumerate(known) if lemma is None]
        if todo:
            guessed = self.predict([pairs[i][0] for i in todo], [upos[i] for i in todo])
            for i, lemma in zip(todo, guessed, strict=True):
                known[i] = lemma
        return [lemma if lemma else "_" for lemma in known]

    def predict(self, words: list[str], upos: list[str]) -> list[str]:
        """The seq2seq's lemma of each word after the edit classifier (stanza's ``Trainer.predict`` and
        ``postprocess``): a prediction that is empty or holds ``<UNK>`` falls back to the word."""
        src_words = [w.lower() for w in words] if self.caseless else list(words)
        # stanza's DeltaVocab: characters the model never saw get ids past its vocabulary, in sorted order
        unknown = sorted({c for w in src_words for c in w if c not in self.char_ids})
        ids = dict(self.char_ids)
        ids.update({c: self.vocab_size + i for i, c in enumerate(unknown)})
        units = self.chars + unknown
        src = [[SOS_ID, *(ids[c] for c in w), EOS_ID] for w in src_words]
        pos = [self.pos_ids.get(u, UNK_ID) for u in upos]
        order = sorted(range(len(words)), key=lambda i: len(src[i]))
        out: list[str] = [""] * len(words)
        for start in range(0, len(order), CHUNK):
            chunk = order[start : start + CHUNK]
            with np.errstate(over="ignore", under="ignore"):  # exp of a large logit is inf, as in torch: no warning
                seqs, edits = self._decode([src[i] for i in chunk], [pos[i] for i in chunk])
            for i, seq, edit in zip(chunk, seqs, edits, strict=True):
                pred = "".join(units[t] for t in seq)
                lemma = words[i] if edit == 1 else words[i].lower() if edit == 2 else pred
                out[i] = words[i] if not lemma or UNK in lemma else lemma
        return out

    def _encode(self, src: np.ndarray, pos: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, ...]:
        """The bi-LSTM encoder: per-position outputs (padding zero) and the final states (backward, forward)."""
        w = self.w
        embed = w["embedding.weight"][np.where(src >= self.vocab_size, UNK_ID, src)]
        if self.use_pos:
            embed = np.concatenate([w["pos_embedding.weight"][pos][:, None, :], embed], axis=1)
        batch, steps, _ = embed.shape
        half = w["encoder.weight_hh_l0"].shape[1]
        rows = np.arange(batch)[:, None]
        t = np.arange(steps)[None, :]
        valid = t < lens[:, None]
        reverse = np.where(valid, lens[:, None] - 1 - t, t)  # each sequence backwards within its length
        outputs, finals = [], []
        for suffix, index in (("", None), ("_reverse", reverse)):
            x = embed if index is None else embed[rows, index]
            x_gates = x @ w[f"encoder.weight_ih_l0{suffix}"].T + w[f"encoder.bias_ih_l0{suffix}"]
            h = np.zeros((batch, half), np.float32)
            c = np.zeros((batch, half), np.float32)
            out = np.zeros((batch, steps, half), np.float32)
            for step in range(steps):
                h_new, c_new = _lstm_step(x_gates[:, step], h, c, w[f"encoder.weight_hh_l0{suffix}"],
                                          w[f"encoder.bias_hh_l0{suffix}"])
                keep = valid[:, step : step + 1]
                h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
                out[:, step] = np.where(keep, h_new, 0)
            outputs.append(out if index is None else out[rows, index] * valid[:, :, None])
            finals.append((h, c))
        (hf, cf), (hb, cb) = finals
        return np.concatenate(outputs, axis=2), np.concatenate([hb, hf], 1), np.concatenate([cb, cf], 1)

    def _prepare(self, sources: list[list[int]], pos_ids: list[int]) -> tuple[np.ndarray, ...]:
        """A batch's padded source ids, encoder outputs, attention mask (True on padding), the decoder's first
        state (h, c) and the edit classifier's logits."""
        w = self.w
        batch = len(sources)
        src = np.zeros((batch, max(len(s) for s in sources)), np.int64)
        for i, s in enumerate(sources):
            src[i, : len(s)] = s
        pos = np.asarray(pos_ids, np.int64)
        lens = np.asarray([len(s) for s in sources]) + (1 if self.use_pos else 0)
        ctx, h, c = self._encode(src, pos, lens)
        mask = np.arange(ctx.shape[1])[None, :] >= lens[:, None]
        hidden_edit = np.maximum(h @ w["edit_clf.0.weight"].T + w["edit_clf.0.bias"], 0)
        edit_logits = hidden_edit @ w["edit_clf.2.weight"].T + w["edit_clf.2.bias"]
        return src, ctx, mask, h, c, edit_logits

    def _input_gates(self, token: np.ndarray) -> np.ndarray:
        """The decoder LSTM's input share of the gates for each row's previous character (an unseen one as
        ``<UNK>``)."""
        w = self.w
        x = w["embedding.weight"][np.where(token >= self.vocab_size, UNK_ID, token)]
        return x @ w["decoder.lstm_cell.weight_ih"].T + w["decoder.lstm_cell.bias_ih"]

    @cached_property
    def _gate_table(self) -> np.ndarray:
        """``_input_gates`` of every character id, computed once (the beam and forced paths index it)."""
        return self._input_gates(np.arange(self.vocab_size))

    def _step(self, x_gates: np.ndarray, h: np.ndarray, c: np.ndarray, src: np.ndarray, ctx: np.ndarray,
              mask: np.ndarray, vocab_ext: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One decoder step for each row (stanza's ``Seq2SeqModel.decode`` with the copy mechanism) given the
        input's share of the gates: the log-probabilities of the next character (``vocab_ext`` columns) and the
        new state (h, c)."""
        w = self.w
        h, c = _lstm_step(x_gates, h, c, w["decoder.lstm_cell.weight_hh"], w["decoder.lstm_cell.bias_hh"])
        target = h @ w["decoder.attention_layer.linear_in.weight"].T
        scores = (ctx @ target[:, :, None])[:, :, 0]
        log_attn = _log_softmax(np.where(mask, MASKED, scores))
        weighted = (np.exp(log_attn)[:, None, :] @ ctx)[:, 0]
        h_tilde = np.tanh(np.concatenate([weighted, h], 1) @ w["decoder.attention_layer.linear_out.weight"].T)
        log_probs = _log_softmax(h_tilde @ w["dec2vocab.weight"].T + w["dec2vocab.bias"])
        # the copy mechanism: probability of copying each source character, added to the vocabulary's
        copy_logit = h_tilde @ w["copy_gate.weight"].T + w["copy_gate.bias"]
        if self.use_pos:
            log_attn = _log_softmax(log_attn[:, 1:])  # the UPOS slot cannot be copied
        log_copy = (np.minimum(copy_logit, 0) - np.log1p(np.exp(-np.abs(copy_logit)))) + log_attn
        top = log_copy.max(axis=-1, keepdims=True)
        copy_prob = np.exp(log_copy - top)
        n = len(x_gates)
        copied = np.zeros((n, vocab_ext), np.float32)
        rows = np.arange(n)
        for j in range(src.shape[1]):
            copied[rows, src[:, j]] += copy_prob[:, j]
        zero = copied == 0
        log_copied = np.where(zero, MASKED, np.log(np.where(zero, np.float32(1e-12), copied)) + top)
        if vocab_ext > self.vocab_size:  # unseen characters share <UNK>'s probability
            log_probs = np.concatenate(
                [log_probs, np.repeat(log_probs[:, UNK_ID : UNK_ID + 1], vocab_ext - self.vocab_size, 1)], 1)
        log_probs = log_probs + (-np.log(np.float32(1) + np.exp(copy_logit)))
        both = np.stack([log_copied, log_probs])
        most = both.max(axis=0)
        return most + np.log(np.exp(both - most).sum(axis=0)), h, c

    def _decode(self, sources: list[list[int]], pos_ids: list[int]) -> tuple[list[list[int]], list[int]]:
        """Greedy decoding of a batch (stanza's ``Seq2SeqModel.predict_greedy`` with the copy mechanism)."""
        src, ctx, mask, h, c, edit_logits = self._prepare(sources, pos_ids)
        edits = edit_logits.argmax(axis=1).tolist()
        vocab_ext = max(self.vocab_size, int(src.max()) + 1)
        active = np.arange(len(sources))  # the rows still decoding (a finished row no longer changes anything)
        seqs: list[list[int]] = [[] for _ in range(len(sources))]
        token = np.full(len(sources), SOS_ID, np.int64)
        for _ in range(self.max_len):
            if not len(active):
                break
            final, h, c = self._step(self._input_gates(token), h, c, src[active], ctx[active], mask[active], vocab_ext)
            pred = final.argmax(axis=1)
            going = pred != EOS_ID
            for row, tok, on in zip(active.tolist(), pred.tolist(), going.tolist(), strict=True):
                if on:
                    seqs[row].append(tok)
            active, h, c, token = active[going], h[going], c[going], pred[going]
        return seqs, edits

    # -- n-best and forced scores (the dialect normaliser: koodari.nlp.dialect_beam) -----------------

    def _char_ids(self, text: str) -> list[int]:
        """Character ids as stanza's ``Vocab.map`` gives them: an unseen character is ``<UNK>`` (no lower-casing;
        the beam and forced paths keep the reference's plain vocabulary, not the greedy path's delta ids)."""
        return [self.char_ids.get(ch, UNK_ID) for ch in text]

    def nbest(self, words: Sequence[str], k: int = 5) -> dict[str, list[tuple[str, float]]]:
        """Up to ``k`` forms per distinct word with their log-probabilities, best first (beam search of width
        ``k``; a form's score adds the edit classifier's 'rewrite', and the word itself gets its 'keep the word':
        identity or lower-cased). Batches of ``BEAM_BATCH`` words sorted by length, as the torch reference
        (bench/dialect_beam_torch.py): a batch searches at most its longest source + 8 steps."""
        out: dict[str, list[tuple[str, float]]] = {}
        ordered = sorted(set(words), key=len)
        with np.errstate(over="ignore", under="ignore"):
            for i in range(0, len(ordered), BEAM_BATCH):
                out.update(self._beam(ordered[i : i + BEAM_BATCH], k))
        return out

    def _beam(self, words: list[str], k: int) -> dict[str, list[tuple[str, float]]]:
        """Beam search for one batch: row ``b * k + j`` is the ``b``-th searching word's ``j``-th open hypothesis."""
        seqs = [[SOS_ID, *self._char_ids(w), EOS_ID] for w in words]
        order = sorted(range(len(words)), key=lambda i: -len(seqs[i]))  # longest first, as the reference
        # no UPOS: a model that wants one gets <UNK>'s (the reference runs only models without)
        src, ctx, mask, h, c, edit_logits = self._prepare([seqs[i] for i in order], [UNK_ID] * len(words))
        edit = _log_softmax(edit_logits)
        b, vocab = len(words), self.vocab_size
        src, ctx, mask, h, c = (np.repeat(x, k, axis=0) for x in (src, ctx, mask, h, c))
        scores = np.full((b, k), NEG, np.float32)
        scores[:, 0] = 0
        tokens = np.full(b * k, SOS_ID, np.int64)
        history = np.zeros((b, k, 0), np.int64)
        done_scores: list[np.ndarray] = []  # per step: (b, k) scores of hypotheses that end there, their tokens
        done_steps: list[np.ndarray] = []
        # The words still searching. The reference searches on until no word's open hypothesis can enter its k
        # best (scores only fall); a word for which that holds already cannot change, so it stops here at once.
        alive = np.arange(b)
        for _ in range(src.shape[1] + 8):
            log_probs, h, c = self._step(self._gate_table[tokens], h, c, src, ctx, mask, vocab)
            n = len(alive)
            total = scores.reshape(-1, 1) + log_probs
            done = np.full((b, k), NEG, np.float32)
            done[alive] = total[:, EOS_ID].reshape(n, k)
            done_scores.append(done)
            done_steps.append(history)
            total[:, EOS_ID] = NEG
            total[:, PAD_ID] = NEG
            flat = total.reshape(n, k * vocab)
            index = _top(flat, k)
            scores = np.take_along_axis(flat, index, axis=1)
            origin, token = index // vocab, index % vocab
            history = np.zeros((b, k, history.shape[2] + 1), np.int64)
            history[alive] = np.concatenate([np.take_along_axis(done_steps[-1][alive], origin[:, :, None], axis=1),
                                             token[:, :, None]], 2)
            pick = (np.arange(n)[:, None] * k + origin).reshape(-1)
            h, c, tokens = h[pick], c[pick], token.reshape(-1)
            finished = np.concatenate(done_scores, axis=1)[alive]
            m = finished.shape[1]
            kth = np.partition(finished, m - min(k, m), axis=1)[:, m - min(k, m)]  # each word's k-th best ended
            going = scores.max(axis=1) >= kth
            if not going.any():
                break
            if not going.all():
                rows = np.repeat(going, k)
                alive, scores = alive[going], scores[going]
                h, c, tokens, src, ctx, mask = h[rows], c[rows], tokens[rows], src[rows], ctx[rows], mask[rows]
        finished = np.concatenate(done_scores, axis=1)
        where = _top(finished, min(k, finished.shape[1]))
        best = np.take_along_axis(finished, where, axis=1)
        out: dict[str, list[tuple[str, float]]] = {}
        for row, i in enumerate(order):
            word = words[i]
            forms: dict[str, float] = {}
            rewrite = float(edit[row, 0])
            for score, at in zip(best[row].tolist(), where[row].tolist(), strict=True):
                step, j = divmod(at, k)
                if score < -1e8:
                    continue
                form = "".join(self.chars[t] for t in done_steps[step][row, j].tolist())
                if form and UNK not in form and form not in forms:
                    forms[form] = score + rewrite
            # the edit classifier may keep the word as it is (identity or lower-cased), in float32 as torch
            most = edit[row, 1:].max()
            keep = most + np.log(np.exp(edit[row, 1:] - most).sum())
            forms[word] = float(np.logaddexp(np.float32(forms.get(word, NEG)), keep))
            out[word] = sorted(forms.items(), key=lambda x: -x[1])[:k]
        return out

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """log P(form | word) for each (word, form) pair by teacher forcing: the form's characters and its end,
        and the edit classifier's 'rewrite'."""
        scores = [0.0] * len(pairs)
        # longest form first: the rows still being forced at a step are a prefix of the batch
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][1]))
        with np.errstate(over="ignore", under="ignore"):
            for start in range(0, len(order), CHUNK):
                chunk = order[start : start + CHUNK]
                for i, value in zip(chunk, self._forced([pairs[i] for i in chunk]), strict=True):
                    scores[i] = value
        return scores

    def _forced(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Teacher-forced scores of a batch whose forms are sorted longest first."""
        src, ctx, mask, h, c, edit_logits = self._prepare([[SOS_ID, *self._char_ids(w), EOS_ID] for w, _ in pairs],
                                                          [UNK_ID] * len(pairs))
        edit = _log_softmax(edit_logits)
        gold = [[*self._char_ids(form), EOS_ID] for _, form in pairs]
        lengths = np.asarray([len(g) for g in gold])
        picked = np.zeros((len(pairs), int(lengths.max())), np.float32)
        token = np.full(len(pairs), SOS_ID, np.int64)
        for t in range(picked.shape[1]):
            n = int((lengths > t).sum())
            log_probs, h, c = self._step(self._gate_table[token[:n]], h[:n], c[:n], src[:n], ctx[:n], mask[:n],
                                         self.vocab_size)
            token = np.asarray([g[t] for g in gold[:n]], np.int64)
            picked[:n, t] = log_probs[np.arange(n), token]
        return (picked.sum(axis=1) + edit[:, 0]).tolist()


def export_arrays(checkpoint: dict[str, Any], pos_dict: dict[str, dict[str, str]]) -> dict[str, np.ndarray]:
    """The arrays of an exported file from a loaded stanza checkpoint (its tensors as numpy arrays already) and
    its unpacked dictionary: the weights by their torch names, and ``meta.json`` (settings, vocabularies,
    dictionary) as UTF-8 bytes. The dictionary keeps the checkpoint's order (the first compound spelling of a
    lemma wins in ``pipeline._compound_forms``)."""
    config = {key: checkpoint["config"].get(key) for key in SETTINGS}
    meta = {"format": FORMAT, "config": config, "chars": list(checkpoint["vocab"]["char"]["_id2unit"]),
            "pos": list(checkpoint["vocab"]["pos"]["_id2unit"]), "pos_dict": pos_dict}
    arrays = {key: np.asarray(value, dtype=np.float32) for key, value in checkpoint["model"].items()
              if key != "SOS_tensor"}
    arrays["meta.json"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"),
                                        dtype=np.uint8)
    return arrays
