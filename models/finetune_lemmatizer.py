"""Continue training a stanza lemmatizer from its saved weights, keeping the best epoch on a development file.

    python models/finetune_lemmatizer.py --init models/stanza/fi_koodari_lemmatizer.pt \
        --train build/st-lemma2/data/lemma/fi_koodari.train.in.conllu \
        --dev build/st-lemma2/data/lemma/fi_koodari.dev.in.conllu --epochs 12 --save build/st-lemma2/finetuned.pt

stanza 1.15's own trainer (`stanza.models.lemmatizer --mode train`) always starts from random weights; on
this project's 2 shared cores one epoch takes 2-7 minutes, so a fresh run cannot reach the 30 epochs the
shipped model had. This script loads the shipped model (its character vocabulary, seq2seq weights and
settings), rebuilds the dictionary from the new training file, and trains the seq2seq further with stanza's
own update/predict/ensemble code. Epoch 0 is the starting model with the new dictionary; after every epoch
the development file is scored with stanza's CoNLL 2018 scorer (exact lemma match) and the best epoch is
saved. Fixed seed; one torch thread.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--save", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--deadline", type=float, default=None, help="unix time: stop before an epoch ends later")
    args = parser.parse_args(argv)

    import torch
    from stanza.models.common import utils
    from stanza.models.common.doc import LEMMA, TEXT, UPOS
    from stanza.models.lemma import scorer
    from stanza.models.lemma.data import DataLoader
    from stanza.models.lemma.trainer import Trainer
    from stanza.utils.conll import CoNLL

    torch.set_num_threads(1)
    utils.set_random_seed(args.seed)
    trainer = Trainer(model_file=str(args.init), device="cpu")
    config = trainer.args
    config["batch_size"] = args.batch_size
    vocab = trainer.vocab
    train_doc = CoNLL.conll2doc(input_file=str(args.train))
    train_batch = DataLoader(train_doc, args.batch_size, config, vocab=vocab, evaluation=False)
    dev_doc = CoNLL.conll2doc(input_file=str(args.dev))
    dev_batch = DataLoader(dev_doc, args.batch_size, config, vocab=vocab, evaluation=True)

    trainer.pos_dict = {}
    trainer.train_dict(train_batch.raw_data())
    trainer.optimizer = utils.get_optimizer(config["optim"], trainer.model, args.lr)

    def dev_score() -> float:
        preds, edits = [], []
        for batch in dev_batch:
            ps, es = trainer.predict(batch, config.get("beam_size", 1))
            preds += ps
            if es is not None:
                edits += es
        preds = trainer.postprocess(dev_batch.doc.get([TEXT]), preds, edits=edits)
        if config.get("ensemble_dict", False):
            preds = trainer.ensemble(dev_batch.doc.get([TEXT, UPOS]), preds)
        dev_batch.doc.set([LEMMA], preds)
        _, _, score = scorer.score(io.StringIO(f"{dev_batch.doc:C}\n\n"), str(args.dev))
        return score

    history = []
    best = dev_score()
    history.append({"epoch": 0, "dev": round(best, 5), "seconds": 0})
    print(json.dumps(history[-1]), flush=True)
    args.save.parent.mkdir(parents=True, exist_ok=True)
    trainer.save(str(args.save))
    epoch_seconds = 0.0
    for epoch in range(1, args.epochs + 1):
        if args.deadline and time.time() + epoch_seconds > args.deadline:
            print(json.dumps({"stopped": "deadline", "epoch": epoch - 1}), flush=True)
            break
        start = time.monotonic()
        loss = 0.0
        for batch in train_batch:
            loss += trainer.update(batch, eval=False)
        score = dev_score()
        epoch_seconds = time.monotonic() - start
        history.append({"epoch": epoch, "train_loss": round(loss / len(train_batch), 5), "dev": round(score, 5),
                        "seconds": round(epoch_seconds)})
        print(json.dumps(history[-1]), flush=True)
        if score > best:
            best = score
            trainer.save(str(args.save))
            print(json.dumps({"saved": epoch}), flush=True)
    args.save.with_suffix(".curve.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
