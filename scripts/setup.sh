#!/usr/bin/env bash
# Creates .venv and installs the project with the extras the README's commands need.
# Idempotent; called by `make` on first use. No GPU: torch comes from the CPU build.
set -euo pipefail
PY=${PY:-python3}
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[data,mask,dev]"
