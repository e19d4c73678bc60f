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
# pytest-xdist workers: two per core, at most 4 (STAGESWEEP_TEST_WORKERS=N overrides; 0 runs the
# tests in this one process). The tests spend much of their time waiting on the services they
# drive (Prefect's lease and heartbeat windows, a server's answer, a heartbeat thread's last
# second), so more workers than cores fill the cores: on the 2-core machine, fresh clones of one
# commit within 90 minutes, 3 workers 13.4 min, 4 workers 11.4 and 13.9 min, 5 workers 12.6 min
# (the machine's own swing is as large). The tests that must not
# run beside each other are one xdist group (tests/conftest.py). The 20 slowest tests are listed
# at the end.
cores=$(nproc)
workers=${STAGESWEEP_TEST_WORKERS:-$((2 * cores < 4 ? 2 * cores : 4))}
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup --durations=20 "$@"
