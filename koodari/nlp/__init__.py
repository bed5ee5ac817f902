"""Finnish NLP for koodari: dialect normalisation and offline stanza lemmatisation."""
