"""How the blobs here were written: with main's code before issue 14 (commit 42f05ab), run from the repository
root. They stay as that code wrote them; ``expected.npz`` holds the probabilities that code gave."""

from pathlib import Path

import numpy as np

from koodari.classify import Example, SuggestionModel, doc_from_tokens

HERE = Path("tests/data/models")


def toks(text: str) -> list[dict]:
    return [{"text": w, "lemma": w, "normalised": w, "upos": "NOUN"} for w in text.split()]


CODED = [("kiire kuormittaa", 1), ("liikaa asiakkaita", 2), ("esimies tukee", 3), ("työkaverit auttaa", 4),
         ("kiire ja stressi", 1), ("asiakkaita jonossa", 2), ("esimies kuuntelee", 3), ("kaverit tukee", 4),
         ("aikataulu kiristyy", 1), ("asiakasmäärä kasvaa", 2)]
NAMES = [("kiire", 1), ("asiakasmäärä", 2), ("esimiehen tuki", 3), ("työkavereiden tuki", 4)]
QUERIES = ["kiire painaa", "esimies auttaa", "asiakkaita paljon", "kaverit"]


def main() -> None:
    examples = [Example(text=t, label=c, question_id=1, tokens=toks(t)) for t, c in CODED]
    always = [Example(text=n, label=c, question_id=1, source="category", tokens=toks(n)) for n, c in NAMES]
    always.append(Example(text="kova kiire töissä", label=1, question_id=1, source="description",
                          tokens=toks("kova kiire töissä")))
    docs = [doc_from_tokens(toks(q)) for q in QUERIES]
    out = {}
    for name, kind, blocks in (("linear-lexical", "linear", "lexical"),
                               ("neighbours-lexical", "neighbours", "lexical"),
                               ("neighbours-both", "neighbours", "both")):
        model = SuggestionModel.fit(examples, always, kind=kind, blocks=blocks)
        if blocks == "lexical":
            model.estimator.temperature_ = 1.7  # a temperature that is not 1, so that it must be restored
        (HERE / f"{name}.npz").write_bytes(model.to_bytes())
        out[name.replace("-", "_")] = model.predict_proba(docs)
    np.savez(HERE / "expected.npz", queries=np.array(QUERIES), **out)


if __name__ == "__main__":
    main()
