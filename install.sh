#!/usr/bin/env bash
# Install koodari into ./.venv with a CPU build of torch (stanza needs torch; koodari never needs a GPU).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0

"$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
# A plain `pip install torch` on Linux resolves to a multi-GB CUDA build. Ask for the CPU build:
# first from pip's configured sources (a local wheel store on these machines), then from PyTorch's
# CPU wheel index, and last the plain release (macOS and Windows wheels are CPU builds anyway).
"${PIP[@]}" install -q "torch==${TORCH_VERSION}+cpu" 2>/dev/null \
  || "${PIP[@]}" install -q "torch==${TORCH_VERSION}+cpu" --extra-index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
  || "${PIP[@]}" install -q "torch==${TORCH_VERSION}"
"${PIP[@]}" install -q -e ".[test]"
# build simplemma's Finnish dictionary trie once (≈ 6 s), so that no analysis pays for it
.venv/bin/python -c "from koodari.nlp.dictionary import finnish_dictionary; finnish_dictionary().is_known('talo')"
.venv/bin/koodari --version
