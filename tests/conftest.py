"""Shared pytest configuration: every fixture module lives in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.registry",
    "tests.fixtures.dockerd",
    "tests.fixtures.kube_server",
    "tests.fixtures.gitrepo",
    "tests.fixtures.prefect_harness",
]
