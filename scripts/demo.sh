#!/usr/bin/env bash
# One command from a fresh clone: install, then scan the bundled sample captures into report/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
.venv/bin/minesweep scan pcaps/ --out report/
