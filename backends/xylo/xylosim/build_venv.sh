#!/usr/bin/env bash
# Build the Xylo virtualenv (SynSense's xylosim 0.1.3 + rockpool 3.1.0) that neurocc
# talks to through a subprocess (runner.py, npz in, npz out).
# Usage: build_venv.sh [VENV_DIR]   (default .venv-xylo)
#
# xylosim 0.1.3 is an sdist (C++/pybind11): pip compiles it, about 35 s. It has no
# license (all rights reserved) and rockpool is AGPL-3.0, so both stay installed
# tools in their own venv: neurocc never imports them and copies none of their code
# (shared/docs/xylo-arithmetic.md, section 1). rockpool's Xylo packages `import samna`
# at import time and no usable samna exists on PyPI (every release there is a shim
# that downloads from gitlab), so the runner puts samna_stub.py (next to this script,
# not copied into the venv) on sys.meta_path first; the smoke check below does too.
#
# Idempotent: if VENV_DIR/.neurocc-xylo-ok records the same pins as this script and
# the smoke check still passes, nothing is installed. The stamp is written last, only
# after the smoke check passed, so a half-built venv never looks finished.
# Environment: PYTHON (default python3) picks the base interpreter (Python 3.11).
set -euo pipefail

if [[ $# -gt 1 ]]; then
    echo "usage: $0 [VENV_DIR]" >&2
    exit 2
fi

VENV_DIR=${1:-.venv-xylo}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
STAMP="$VENV_DIR/.neurocc-xylo-ok"
# Keep in step with shared/docs/xylo-arithmetic.md section 1.
# bitstruct and packaging: the rest of rockpool's "xylo" extra that its Xylo packages import
# (its samna and jax are not needed by XyloSim and are left out).
PKGS=("xylosim==0.1.3" "rockpool==3.1.0" "numpy" "bitstruct" "packaging")
PINS="${PKGS[*]}"
SMOKE=$(cat <<EOF
import sys
sys.path.insert(0, "$HERE")
import numpy
import xylosim.v2
from xylosim.v2 import XyloLayer, XyloSynapse
import samna_stub
samna_stub.install()
from rockpool.devices.xylo.syns61201 import XyloSim as A2
from rockpool.devices.xylo.syns63300 import XyloSim as IMU
from rockpool.devices.xylo.syns65302 import XyloSim as A3
import samna
assert samna_stub.is_stub(samna), "a real samna was imported instead of the stand-in"
for cls in (A2, IMU, A3):
    assert hasattr(cls, "from_specification"), cls
print("xylosim.v2 and rockpool", __import__("rockpool").__version__, "import; numpy", numpy.__version__)
EOF
)

die() { echo "build_venv.sh: error: $*" >&2; exit 1; }
step() { echo "build_venv.sh: $*" >&2; }

smoke() {
    "$VENV_DIR/bin/python" -c "$SMOKE"
}

if [[ -f "$STAMP" && -x "$VENV_DIR/bin/python" ]] && grep -qxF "pins: $PINS" "$STAMP"; then
    if smoke; then
        touch "$STAMP"  # newer than this script, for make
        step "$VENV_DIR is up to date"
        exit 0
    fi
    step "$VENV_DIR has a stamp but xylosim/rockpool do not import; rebuilding"
    rm -f "$STAMP"
fi

command -v "$PYTHON" >/dev/null || die "no '$PYTHON' on PATH (need Python 3.11)"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 9), sys.version' \
    || die "'$PYTHON' is too old (need Python >= 3.9; 3.11 is what was checked)"

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    step "creating $VENV_DIR with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV_DIR" || die "python -m venv $VENV_DIR failed"
fi

PIP=("$VENV_DIR/bin/python" -m pip --disable-pip-version-check)
rm -f "$STAMP"
step "installing ${PKGS[*]} (xylosim is an sdist: compiling it takes about a minute)"
"${PIP[@]}" install "${PKGS[@]}" || die "pip install ${PKGS[*]} failed"

step "smoke import"
smoke || die "xylosim.v2 or rockpool's Xylo simulators do not import in $VENV_DIR (see above)"

{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) with $("$VENV_DIR/bin/python" --version 2>&1)"
    echo "pins: $PINS"
    "$VENV_DIR/bin/python" -m pip --disable-pip-version-check freeze 2>/dev/null \
        | grep -iE '^(xylosim|rockpool|numpy|scipy)==' | sed 's/^/installed: /' || true
} > "$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
step "done: $VENV_DIR (${PKGS[*]})"
