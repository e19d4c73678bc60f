"""Shared pytest configuration: every fixture module lives in tests/fixtures/."""

import os

# Retries back off exponentially from this base; tests keep it short.
os.environ.setdefault("STAGESWEEP_RETRY_DELAY_SECONDS", "0.05")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# no test leaves a local Prefect server behind unless it asks for one (and stops it)
os.environ.setdefault("STAGESWEEP_PREFECT_SERVER_AUTOSTART", "false")

pytest_plugins = [
    "tests.fixtures.registry",
    "tests.fixtures.dockerd",
    "tests.fixtures.kube_server",
    "tests.fixtures.gitrepo",
    "tests.fixtures.prefect_harness",
    "tests.fixtures.fault_proxy",
]
