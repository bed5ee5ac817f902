"""Score stanza lemmatizer files on the development split (model selection; never on TDT test).

    python models/eval_lemmatizer.py NEW.pt models/stanza/fi_koodari_lemmatizer.pt [--ud ../shared/ud-finnish]

The development split is every 10th sentence of UD Finnish-TDT *dev* (index % 10 == 9): neither the
shipped lemmatizer (issue 3's "combined" split held out the same sentences) nor one trained with
`train_models.py --split tdt` saw it. Each file is scored as koodari uses it (spaCy-fi UPOS, with and
without the normaliser, the dictionary back-off and Voikko) and with gold UPOS; `plain` ignores `#` and case.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))
sys.path.insert(0, str(ROOT / "bench"))

from export_seq2seq import export as export_seq2seq  # noqa: E402
from train_models import DEV_EVERY, MODEL_DIR, TRAIN_SOURCES  # noqa: E402

from koodari.nlp.pipeline import MODEL_FILES, FinnishPipeline, ModelSource  # noqa: E402


def dev_split(ud: Path) -> list[dict]:
    from lemma import read_conllu

    sentences = read_conllu(ud / TRAIN_SOURCES[0])
    return [s for i, s in enumerate(sentences) if i % DEV_EVERY == DEV_EVERY - 1]


def score(sentences: list[dict], predicted: list[list[tuple[str, str]]]) -> dict[str, float]:
    total = exact = plain = 0
    for sentence, pred in zip(sentences, predicted, strict=True):
        for (_form, gold, _upos), (lemma, _tag) in zip(sentence["words"], pred, strict=True):
            total += 1
            exact += lemma == gold
            plain += lemma.replace("#", "").lower() == gold.replace("#", "").lower()
    return {"exact": round(exact / total, 4), "plain": round(plain / total, 4), "n": total}


def evaluate(model: Path, sentences: list[dict]) -> dict[str, dict]:
    from lemma import gold_upos_lemmas

    words = [[w for w, _, _ in s["words"]] for s in sentences]
    gold_tags = [[u for _, _, u in s["words"]] for s in sentences]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for proc, name in MODEL_FILES.items():
            (folder / name).symlink_to(model.resolve() if proc == "lemma" else MODEL_DIR / name)
        export_seq2seq(folder / MODEL_FILES["lemma"])  # koodari lemmatises from the numpy export
        shutil.copy(MODEL_DIR / "resources.json", folder / "resources.json")
        source = ModelSource("koodari", folder)
        for name, kwargs in {
            "koodari (normaliser + spaCy UPOS + back-off + Voikko)": {},
            "koodari without Voikko": {"morphology": False},
            "spaCy UPOS + back-off + Voikko": {"normalise": False},
            "spaCy UPOS, lemmatizer alone": {"normalise": False, "dictionary_backoff": False, "morphology": False},
        }.items():
            pipe = FinnishPipeline(source=source, **kwargs)
            tagged = pipe.analyse_pretokenized(words)
            out[name] = score(sentences, [[(t.lemma, t.upos) for t in s] for s in tagged])
        for name, backoff in {"gold UPOS + back-off + Voikko": True, "gold UPOS, lemmatizer alone": False}.items():
            pipe = FinnishPipeline(source=source, normalise=False, dictionary_backoff=backoff, morphology=backoff)
            out[name] = score(sentences, gold_upos_lemmas(pipe, words, gold_tags))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--ud", type=Path, default=ROOT.parent / "shared" / "ud-finnish")
    args = parser.parse_args()
    sentences = dev_split(args.ud)
    for model in args.models:
        print(json.dumps({"model": str(model), **evaluate(model, sentences)}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
