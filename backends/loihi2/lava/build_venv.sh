#!/usr/bin/env bash
# Build the Lava virtualenv (lava-nc 0.10.0, numpy<2) that neurocc talks to
# through a subprocess. Usage: build_venv.sh VENV_DIR
#
# Lava pins Python <3.11 and numpy<2; neurocc's main environment needs numpy>=2
# (JAX), so Lava gets its own venv. On Python 3.11 Lava only imports with the
# import hook lava311_shim.py, which this script copies into the venv's
# site-packages together with a .pth file that imports it at interpreter
# start. No Lava file is edited.
#
# Idempotent: if VENV_DIR/.neurocc-lava-ok records the same package pins as
# this script and the smoke import still passes, nothing is installed (the
# hook is re-copied, in case it changed). The stamp is written last, only after
# the smoke import succeeded, so a half-built venv never looks finished.
# Environment: PYTHON (default python3) picks the base interpreter.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi

VENV_DIR=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
STAMP="$VENV_DIR/.neurocc-lava-ok"
SMOKE="import lava.proc.lif.process, lava.proc.dense.process, lava.proc.sparse.process, lava.proc.io.source, lava.proc.monitor.process, lava.magma.core.run_configs, lava.magma.core.run_conditions"
# Keep in step with docs/loihi2-fixed-point.md section 1.
DEPS=("numpy<2" "scipy>=1.10,<1.15" "networkx==2.8.7" "scikit-learn>=1.5,<1.6" "asteval>=0.9.31,<0.10")
LAVA="lava-nc==0.10.0"
PINS="${DEPS[*]} $LAVA"

die() { echo "build_venv.sh: error: $*" >&2; exit 1; }
step() { echo "build_venv.sh: $*" >&2; }

copy_shim() {
    local site
    site=$("$VENV_DIR/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
        || die "cannot ask $VENV_DIR/bin/python for its site-packages"
    [[ -d "$site" ]] || die "site-packages '$site' does not exist"
    install -m 0644 "$HERE/lava311_shim.py" "$site/lava311_shim.py"
    # A .pth line starting with 'import' is executed by site.py at startup.
    printf 'import lava311_shim\n' > "$site/neurocc_lava311_shim.pth"
}

smoke() {
    "$VENV_DIR/bin/python" -c "$SMOKE"
}

if [[ -f "$STAMP" && -x "$VENV_DIR/bin/python" ]] && grep -qxF "pins: $PINS" "$STAMP"; then
    # Refresh the hook (it may have changed in the repo), then re-check.
    copy_shim
    if smoke; then
        touch "$STAMP"  # newer than this script and the hook, for make
        step "$VENV_DIR is up to date"
        exit 0
    fi
    step "$VENV_DIR has a stamp but lava does not import; rebuilding"
    rm -f "$STAMP"
fi

command -v "$PYTHON" >/dev/null || die "no '$PYTHON' on PATH (need Python 3.11)"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 8), sys.version' \
    || die "'$PYTHON' is too old"

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
    step "creating $VENV_DIR with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV_DIR" || die "python -m venv $VENV_DIR failed"
fi

PIP=("$VENV_DIR/bin/python" -m pip --disable-pip-version-check)
rm -f "$STAMP"
step "installing Lava's dependencies: ${DEPS[*]}"
"${PIP[@]}" install "${DEPS[@]}" || die "pip install of the dependencies failed"
step "installing $LAVA (--no-deps --ignore-requires-python: Lava pins python<3.11)"
"${PIP[@]}" install --no-deps --ignore-requires-python "$LAVA" || die "pip install $LAVA failed"

step "installing the Python 3.11 import hook"
copy_shim

step "smoke import"
smoke || die "lava does not import in $VENV_DIR (see the traceback above)"
"$VENV_DIR/bin/python" -c 'import numpy, sys; assert numpy.__version__.startswith("1."), numpy.__version__' \
    || die "$VENV_DIR has numpy>=2; Lava needs numpy<2"

{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) with $("$VENV_DIR/bin/python" --version 2>&1)"
    echo "pins: $PINS"
} > "$STAMP"
step "done: $VENV_DIR ($LAVA)"
