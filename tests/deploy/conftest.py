"""The deployment tests' server: one real Prefect server per test module — on PostgreSQL for the
modules that run a work pool under load (`PREFECT_SERVER_DATABASE = "postgresql"`, as
deployments/README.md recommends for a fleet), else on SQLite (Prefect's default)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.server import PrefectServer


@pytest.fixture(scope="module")
def prefect_server(request, tmp_path_factory) -> Iterator[PrefectServer]:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME."""
    database_url = None
    if getattr(request.module, "PREFECT_SERVER_DATABASE", "sqlite") == "postgresql":
        database_url = request.getfixturevalue("postgres").new_database()
    server = PrefectServer(home=tmp_path_factory.mktemp("prefect-server-home"), database_url=database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()
