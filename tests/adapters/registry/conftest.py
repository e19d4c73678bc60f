"""Clients for the session registries (see tests/fixtures/registry.py)."""

from __future__ import annotations

import pytest

from adapters.registry import RegistryClient


@pytest.fixture
def client(registry):
    """A client for the plain-HTTP ``registry``."""
    with RegistryClient(registry.options()) as registry_client:
        yield registry_client


@pytest.fixture
def repo(registry, unique_repo) -> str:
    """This test's own repository on ``registry``: ``127.0.0.1:PORT/tests/<test>``."""
    return registry.repo(unique_repo)
