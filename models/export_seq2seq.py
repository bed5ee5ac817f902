"""Export stanza seq2seq lemmatizer checkpoints to torch-free files koodari reads with numpy.

    python models/export_seq2seq.py                 # the two shipped models (re-run after retraining either)
    python models/export_seq2seq.py PATH.pt ...     # other checkpoints: PATH.npz is written beside each

Shipped: ``models/stanza/fi_koodari_lemmatizer.pt`` → ``fi_koodari_lemmatizer.npz`` and
``models/normaliser/skn-seq2seq.pt`` → ``skn-seq2seq.npz``. Each ``.npz`` holds the weights (float32, torch's
names) and ``meta.json`` (settings, character and UPOS vocabularies, the training dictionary) as UTF-8 bytes;
no pickle. ``koodari.nlp.seq2seq`` loads it (each export is loaded back once written); ``bench/seq2seq.py``
compares its lemmas with stanza's.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from koodari.nlp.seq2seq import Seq2SeqLemmatiser, export_arrays  # noqa: E402

SHIPPED = (ROOT / "models" / "stanza" / "fi_koodari_lemmatizer.pt", ROOT / "models" / "normaliser" / "skn-seq2seq.pt")


def export(checkpoint_path: Path) -> Path:
    """Write ``checkpoint_path`` with suffix ``.npz`` beside it and return its path."""
    import torch
    from stanza.models.lemma.trainer import _DICTS_VERSION_POS, _unpack_pos_dict

    checkpoint = torch.load(checkpoint_path, lambda storage, loc: storage, weights_only=True)
    if checkpoint.get("dicts_version") != _DICTS_VERSION_POS:
        raise SystemExit(f"{checkpoint_path}: dictionary format {checkpoint.get('dicts_version')}, expected "
                         f"{_DICTS_VERSION_POS} (stanza ≥ 1.11)")
    if checkpoint.get("contextual"):
        raise SystemExit(f"{checkpoint_path}: has contextual lemma classifiers, which the numpy port lacks")
    checkpoint["model"] = {key: value.numpy() for key, value in checkpoint["model"].items()}
    arrays = export_arrays(checkpoint, _unpack_pos_dict(checkpoint["dicts"]))
    out = checkpoint_path.with_suffix(".npz")
    tmp = out.with_name(out.name + ".tmp.npz")
    write_npz(tmp, arrays)
    tmp.replace(out)
    Seq2SeqLemmatiser.load(out)  # readable, and the settings are ones the port reproduces
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed entry dates and order: the same checkpoint gives the same bytes (the
    pipeline's fingerprint of the models, and so its cached analyses, change only when the model does)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arrays[key]), allow_pickle=False)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or list(SHIPPED)
    for path in paths:
        out = export(path)
        print(f"{path} → {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
