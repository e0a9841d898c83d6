#!/usr/bin/env bash
# Build the separate benchmark environment `.bench-venv` (git-ignored): embedrec itself plus the peer
# libraries the benchmarks compare against (scikit-surprise, cornac, fastai, implicit, lightfm).
# They are not runtime dependencies of embedrec; the dev `.venv` is never touched.
#
#   bash benchmarks/setup_peers.sh          # idempotent; re-run to retry a peer that failed
#
# Notes on what it takes (Python 3.11, Linux x86_64):
# - fastai needs torchvision, and torchvision must match torch exactly: install the pair
#   torch==2.14.1 torchvision==0.29.1 first (a large CUDA build of torch; fine for a bench venv).
# - scikit-surprise and lightfm ship only source distributions: they compile C extensions, so gcc and the
#   Python headers must be present; they are built without build isolation against the venv's numpy.
# - lightfm 1.17's setup.py sets an attribute on `__builtins__`, which is a dict (not the module) when
#   setuptools' PEP 517 backend exec()s it: "AttributeError: 'dict' object has no attribute
#   '__LIGHTFM_SETUP__'". The legacy `setup.py bdist_wheel` path runs it as __main__ and works, so
#   pip is held below 25 (which still has --no-use-pep517) and lightfm is built that way.
# - One peer failing to install does not stop the others; the summary at the end says which failed.
set -uo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=.bench-venv
LOG=benchmarks/out/setup_peers.log
mkdir -p benchmarks/out
: >"$LOG"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" || { echo "cannot create $VENV with $PY"; exit 1; }
fi
PIP=("$VENV/bin/python" -m pip install --progress-bar off)

step() {  # step NAME CMD...: run one install step, log it, remember failures
    local name=$1
    shift
    echo "== $name" | tee -a "$LOG"
    if "$@" >>"$LOG" 2>&1; then
        echo "   ok" | tee -a "$LOG"
    else
        echo "   FAILED (see $LOG)" | tee -a "$LOG"
        FAILED+=("$name")
    fi
}
FAILED=()

step "build tools" "${PIP[@]}" -U "pip<25" wheel "setuptools<81" "Cython>=3" "numpy<2.3"
step "torch + torchvision" "${PIP[@]}" torch==2.14.1 torchvision==0.29.1
step "embedrec" "${PIP[@]}" -e . matplotlib
step "fastai" "${PIP[@]}" fastai
step "implicit" "${PIP[@]}" implicit
step "cornac" "${PIP[@]}" cornac
step "scikit-surprise" "${PIP[@]}" --no-build-isolation scikit-surprise
step "lightfm" "${PIP[@]}" --no-use-pep517 --no-build-isolation lightfm

echo "== versions" | tee -a "$LOG"
"$VENV/bin/python" - <<'PY' | tee -a "$LOG"
import importlib
for mod in ["embedrec", "torch", "numpy", "surprise", "cornac", "fastai", "implicit", "lightfm"]:
    try:
        m = importlib.import_module(mod)
        print(f"   {mod:10s} {getattr(m, '__version__', '?')}")
    except Exception as exc:  # report, don't stop: the benchmark skips missing peers
        print(f"   {mod:10s} NOT AVAILABLE: {type(exc).__name__}: {exc}")
PY

if [ ${#FAILED[@]} -gt 0 ]; then
    echo "failed steps: ${FAILED[*]}"
    exit 1
fi
echo "all peers installed in $VENV"
