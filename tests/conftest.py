"""Shared pytest configuration: every fixture module lives in tests/fixtures/.

The suite runs on every core (`scripts/test.sh`: pytest-xdist, `--dist loadgroup`). Each worker
is a pytest session of its own: its session fixtures start its own services (registries, dockerd,
the Prefect API, PostgreSQL) on ports from its own slice (`tests.fixtures.registry.free_port`),
and the process gets a scratch home of its own (`HOME`, `PREFECT_HOME`) below, so two workers
share no state. Tests that must not run beside each other form one group (`ONE_AT_A_TIME`)."""

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
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

# A home of this test process's own: ~/.stagesweep (the registry read cache, the run locks, git
# mirrors), ~/.prefect and anything else a tool keeps in the home are never shared with another
# worker, another test run or the user's own. git keeps the user's identity (~/.gitconfig).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_SCRATCH = Path(tempfile.mkdtemp(prefix=f"stagesweep-tests-{_WORKER}-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)  # a worker may end without unconfigure
_user_home = Path(os.environ.get("HOME") or Path.home())
(_SCRATCH / "home").mkdir()
if (_user_home / ".gitconfig").is_file():
    shutil.copy(_user_home / ".gitconfig", _SCRATCH / "home" / ".gitconfig")
os.environ["HOME"] = str(_SCRATCH / "home")
os.environ["PREFECT_HOME"] = str(_SCRATCH / "prefect")

#: test modules whose tests must not run beside each other's: one xdist group, so one worker runs
#: them one after another. They start Prefect workers and fleets of flow-run processes and assert
#: how soon something ends (a Ctrl-C'd fleet within 30 s, a dead run Crashed within 2 minutes of
#: its last heartbeat, its slots free within 2 minutes of the kill): two of them side by side would
#: share the cores with each other's process trees. A test that only counts requests in flight, or
#: kills a process at a moment it chooses, uses its own worker's registry, proxies and Prefect API:
#: nothing another worker's test does reaches them, so it runs beside anything.
ONE_AT_A_TIME = "one-at-a-time"
ONE_AT_A_TIME_MODULES = {
    "tests/deploy/test_dead_runs.py",
    "tests/deploy/test_fleet_pool.py",
}


@pytest.fixture(autouse=True)
def _registries_learnt_afresh():
    """What a process learns about a registry is kept by its address; a port one test's server
    freed may be the next test's other registry (a vendor fake where a plain one was)."""
    from adapters.registry.vendors import forget_registries

    forget_registries()
    yield


def pytest_unconfigure(config):
    shutil.rmtree(_SCRATCH, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Group the tests for `--dist loadgroup`: the modules of ONE_AT_A_TIME_MODULES together, and
    each module whose tests share a module-scoped fixture (a Prefect server, a Go build) on one
    worker, so the fixture starts once. Runs before xdist reads the groups."""
    root = Path(str(config.rootpath))
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        module = Path(str(item.path)).relative_to(root).as_posix()
        if module in ONE_AT_A_TIME_MODULES:
            item.add_marker(pytest.mark.xdist_group(ONE_AT_A_TIME))
            continue
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        if any(d.scope == "module" for defs in definitions for d in defs):
            item.add_marker(pytest.mark.xdist_group(module))
    if getattr(config.option, "loadgroup", False):
        for item in items:
            _name_group(item)


def _name_group(item) -> None:
    """Append `@GROUP` to the test's node id: how `--dist loadgroup` tells the controller which
    tests go together. pytest-xdist does it by setting `item._nodeid`, which pytest 9.2 no longer
    reads (its node id is `item._id`), so the groups would be silently ignored; on a pytest that
    reads `_nodeid`, pytest-xdist's own hook still does it."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")})
    if not names or not hasattr(item, "_id") or "@" in item.nodeid.rsplit("]", 1)[-1]:
        return
    from _pytest.nodeid import NodeId

    item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


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
