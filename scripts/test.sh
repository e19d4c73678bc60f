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
# pytest-xdist workers: one more than the cores, at most 4 (STAGESWEEP_TEST_WORKERS=N overrides; 0
# runs the tests in this one process). The tests spend much of their time waiting on the services
# they drive (Prefect's lease and heartbeat windows, a server's answer), and a third worker on two
# cores fills that: 17.5 min with 2 workers, 14.3 with 3, 14.3 with 4 on the 2-core machine. The
# tests that must not run beside each other are one xdist group (tests/conftest.py). The 20
# slowest tests are listed at the end.
cores=$(nproc)
workers=${STAGESWEEP_TEST_WORKERS:-$((cores + 1 < 4 ? cores + 1 : 4))}
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup --durations=20 "$@"
