"""`koodari serve`: the review loop, transcripts, the tree, agreement and model versions in a local browser."""
