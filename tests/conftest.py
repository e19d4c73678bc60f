"""Shared pytest configuration: every fixture module lives in tests/fixtures/."""

import os
import signal

from hypothesis import HealthCheck, settings

# generated inputs are checked on a shared, loaded machine: slow generation is not a failure
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")

# A shell starts a background job with SIGINT ignored, and a process inherits that: the CLIs the
# tests interrupt (Ctrl-C of `fleet cleanup`, of `serve`) would not hear it. With a handler here,
# every process the tests start begins with SIGINT's default, as at a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
    "tests.fixtures.prefect_fault_proxy",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.vendor_distribution",
    "tests.fixtures.vendor_gitlab",
    "tests.fixtures.vendor_harbor",
    "tests.fixtures.vendor_ecr",
    "tests.fixtures.vendor_github",
    "tests.fixtures.vendor_dockerhub",
    "tests.fixtures.vendor_quay",
    "tests.fixtures.vendor_gcr",
    "tests.fixtures.vendor_acr",
    "tests.fixtures.vendor_tagdelete",
]
