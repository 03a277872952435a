#!/usr/bin/env bash
# Creates .venv-langfuse2 with the last v2 Langfuse SDK (2.60.10), which cannot share a venv with 5.x.
# Idempotent: does nothing when the venv already has that version. Used by tests/tracing (SDK 2 client script).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-langfuse2"
VERSION="2.60.10"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import langfuse, sys; sys.exit(0 if langfuse.version.__version__ == '$VERSION' else 1)" 2>/dev/null; then
  echo "langfuse $VERSION already in $VENV"
  exit 0
fi
PY="${PYTHON:-python3.11}"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "langfuse==$VERSION"
"$VENV/bin/python" -c "import langfuse; print('langfuse', langfuse.version.__version__, 'in $VENV')"
