"""The deployment tests' server: one real Prefect server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.server import PrefectServer


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME (SQLite)."""
    server = PrefectServer(home=tmp_path_factory.mktemp("prefect-server-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
