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
# they drive (Prefect's lease and heartbeat windows, a server's answer), so a worker more than the
# cores fills them. On the 2-core machine, fresh clones within two hours: 3 workers 13.4 and 14.7 min of
# pytest; 4 workers 11.4, 13.9, 13.9 and 15.3 min; 5 workers 12.6 min — the machine's own swing
# (a quarter between runs of one setting) is larger than the worker count's effect, and 4 workers
# load the timing tests more. The tests that must not run beside each other are one xdist group
# (tests/conftest.py). The 20 slowest tests are listed at the end.
cores=$(nproc)
workers=${STAGESWEEP_TEST_WORKERS:-$((cores + 1 < 4 ? cores + 1 : 4))}
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup --durations=20 "$@"
