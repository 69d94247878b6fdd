#!/usr/bin/env bash
# Install bubble_abm into .venv (Python 3.12; created if missing) and run one scenario.
#
#   bash scripts/run.sh                       # baseline scenario, seed 1, 40 quarters from 2023Q1
#   bash scripts/run.sh --scenario runs/baseline.toml --seed 7 --quarters 24 --out /tmp/b7
#   bash scripts/run.sh --help
#
# Arguments go to `bubble-abm run`. Outputs go under runs/output/ (git-ignored).
# Works from any directory. Set BUBBLE_ABM_PYTHON=/path/to/python3.12 to choose the interpreter.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

ensure_venv "." base test  # a test install also has everything the run needs
exec .venv/bin/bubble-abm run "$@"
