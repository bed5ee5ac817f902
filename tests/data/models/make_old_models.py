"""Write model blobs with the code of main before issue 14 (commit 42f05ab), and the probabilities they give."""
import numpy as np
from koodari.classify import Example, SuggestionModel, doc_from_tokens

def toks(text):
    return [{"text": w, "lemma": w, "normalised": w, "upos": "NOUN"} for w in text.split()]

coded = ["kiire kuormittaa", "liikaa asiakkaita", "esimies tukee", "työkaverit auttaa", "kiire ja stressi",
         "asiakkaita jonossa", "esimies kuuntelee", "kaverit tukee", "aikataulu kiristyy", "asiakasmäärä kasvaa"]
labels = [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]
examples = [Example(text=t, label=l, question_id=1, tokens=toks(t)) for t, l in zip(coded, labels)]
always = [Example(text=n, label=l, question_id=1, source="category", tokens=toks(n))
          for n, l in (("kiire", 1), ("asiakasmäärä", 2), ("esimiehen tuki", 3), ("työkavereiden tuki", 4))]
always.append(Example(text="kova kiire töissä", label=1, question_id=1, source="description", tokens=toks("kova kiire töissä")))
queries = ["kiire painaa", "esimies auttaa", "asiakkaita paljon", "kaverit"]
docs = [doc_from_tokens(toks(q)) for q in queries]
out = {}
for name, kind, blocks in (("linear-lexical", "linear", "lexical"), ("neighbours-lexical", "neighbours", "lexical"),
                           ("neighbours-both", "neighbours", "both")):
    model = SuggestionModel.fit(examples, always, kind=kind, blocks=blocks)
    model.estimator.temperature_ = 1.7 if blocks == "lexical" else model.estimator.temperature_
    blob = model.to_bytes()
    open(f"tests/data/models/{name}.npz", "wb").write(blob)
    out[name] = model.predict_proba(docs)
    print(name, len(blob), model.estimator.temperature_, out[name].round(3)[0])
np.savez("tests/data/models/expected.npz", queries=np.array(queries), **{k.replace("-", "_"): v for k, v in out.items()})
