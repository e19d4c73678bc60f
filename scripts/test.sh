#!/usr/bin/env bash
# Install everything the tests need, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
export PREFECT_SERVER_ANALYTICS_ENABLED=false
echo "ruff: lint and format"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
echo "mypy: strict on schemas/, core/ and gotemplate/"
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
