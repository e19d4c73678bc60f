"""The deployment tests' server: one real `prefect server start` per test worker, shared by every
deployment test module of that worker, on PostgreSQL (as deployments/README.md recommends for a
fleet on a work pool).

Sharing is safe because each test names what it owns: its own work pool, project names, storages
and fleet runs (read back by their names, their pool or the moment the test started), and the
`cleanup/fleet-project` deployment and the automations are registered again, by name, by every
fleet run or `stagesweep server automations` that a test makes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.server import PrefectServer


@pytest.fixture(scope="session")
def prefect_server(postgres, tmp_path_factory) -> Iterator[PrefectServer]:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME and database."""
    server = PrefectServer(home=tmp_path_factory.mktemp("prefect-server-home"), database_url=postgres.new_database())
    server.start()
    try:
        yield server
    finally:
        server.stop()
