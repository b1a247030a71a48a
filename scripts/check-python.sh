#!/usr/bin/env bash
# Before make creates or uses the virtual environment:
#   scripts/check-python.sh PYTHON VENV
# 1. PYTHON must exist and be Python >= 3.11 (else: say which one to pass, exit 1; nothing is created).
# 2. A VENV made by another Python (another version or installation), or broken, is removed so that
#    make rebuilds it with PYTHON.
set -euo pipefail
python=${1:?usage: check-python.sh PYTHON VENV}
venv=${2:?usage: check-python.sh PYTHON VENV}
need="3.11"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "make: the Python interpreter '$python' was not found. SoundForge needs Python >= $need:" \
         "install it, then run: make PYTHON=python3.11 (or python3.12, python3.13)" >&2
    exit 1
fi
identity='import sys; print("%d.%d" % sys.version_info[:2], sys.base_prefix)'
if ! wanted=$("$python" -c "$identity" 2>/dev/null); then
    echo "make: '$python' does not run as a Python interpreter. Run: make PYTHON=python3.11" >&2
    exit 1
fi
version=${wanted%% *}
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "make: '$python' is Python $version; SoundForge needs Python >= $need." \
         "Run: make PYTHON=python3.11 (or python3.12, python3.13). Nothing was created." >&2
    exit 1
fi
if [ -e "$venv" ]; then
    have=$("$venv/bin/python" -c "$identity" 2>/dev/null || echo "broken")
    if [ "$have" != "$wanted" ]; then
        echo "make: $venv was made by another Python ($have), not $python ($wanted): rebuilding it." >&2
        rm -rf "$venv"
    fi
fi
