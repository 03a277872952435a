#!/usr/bin/env bash
# Set up safewatch in ./.venv: Python packages, the int8 ONNX model build, the Langfuse 2 client venv for tests.
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# torch first and pinned: the CPU build. Left to a resolver, a newer torch would pull several GB of CUDA.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch (CPU build, used once to export the ONNX model)"
  .venv/bin/pip install -q torch==2.13.0
fi
echo "setup: installing safewatch and its dependencies"
.venv/bin/pip install -q -e '.[export,test]'
echo "setup: building the int8 ONNX exports of all-MiniLM-L6-v2 and multilingual-e5-small and the lexical toxicity model (cached after the first run)"
.venv/bin/safewatch models build >/dev/null
if [ -f scripts/langfuse2-venv.sh ]; then
  bash scripts/langfuse2-venv.sh
fi
echo "setup: done (.venv/bin/safewatch)"
