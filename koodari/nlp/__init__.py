"""Finnish NLP for koodari: dialect normalisation and offline stanza lemmatisation.

One shape of an analysed text, one way through the pipeline, one cache:

* ``analysed``: ``AnalysedText`` (a text and its ``AnalysedToken``s: spoken, normalised, lemma, UPOS,
  offsets) with the views the features read; ``to_json``/``from_json`` are the cache's format;
* ``pipeline``: ``FinnishPipeline``, named stages tokenise → normalise → tag → backoff → morphology → written;
  ``pipeline(text)``/``pipeline.pipe(texts)`` give ``AnalysedText``;
* ``cache``: ``analyse_units``/``analyse_texts``, the only way the rest of koodari gets analyses of a study's
  texts (the SQL is in ``Study``);
* ``normaliser``, ``dialect_model``, ``resources``: the normaliser and its shipped files; ``loader``: the one
  lazy import of stanza (torch) and spaCy (without torch);
* ``seq2seq``: stanza's seq2seq lemmatizer in numpy, run from the ``.npz`` exports of koodari's lemmatizer and
  dialect model (``models/export_seq2seq.py``), so that analysing with koodari's models needs no torch.

Imports point one way (cache → pipeline → normaliser → resources, dialect_model → seq2seq); nothing here
imports the corpus loader or a layer above, except that the cache reads and writes through ``Study``.
"""
