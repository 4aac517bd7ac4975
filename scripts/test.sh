#!/usr/bin/env bash
# Runs the whole test suite (installs first if needed; idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --install-only
exec .venv/bin/python -m pytest -q "$@"
