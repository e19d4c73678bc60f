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
# One pytest-xdist worker per core, at most 4 (STAGESWEEP_TEST_WORKERS=N overrides; 0 runs the
# tests in this one process); the tests that must not run beside each other are one xdist group
# (tests/conftest.py). The 20 slowest tests are listed at the end.
cores=$(nproc)
workers=${STAGESWEEP_TEST_WORKERS:-$((cores < 4 ? cores : 4))}
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup --durations=20 "$@"
