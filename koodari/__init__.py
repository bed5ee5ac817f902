"""koodari: data-driven content analysis of Finnish interview transcripts.

The pure core lives in modules with one responsibility each (store, textio, transcripts,
segment, reductions, corpus, tree, nlp, classify, ...); ``koodari.cli`` is a thin typer layer.
"""

from koodari.threads import configure as _configure_threads

_configure_threads()  # before numpy or torch start their thread pools

__version__ = "0.1.0"
