"""Load stanza models for prediction only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOAD_LOCK = threading.Lock()


@contextmanager
def inference_only() -> Iterator[None]:
    """Build stanza pipelines without their training optimizers.

    stanza's tokenizer and lemmatizer trainers create an Adam optimizer even to predict, and torch's first
    optimizer imports torch._dynamo: 3-9 s of a cold start on 2 shared cores. Nothing in koodari trains a
    stanza model in-process (models/train_models.py runs stanza's trainers in subprocesses).
    """
    from stanza.models.common import utils

    with _LOAD_LOCK:
        original = utils.get_optimizer
        utils.get_optimizer = lambda *args, **kwargs: None
        try:
            yield
        finally:
            utils.get_optimizer = original
