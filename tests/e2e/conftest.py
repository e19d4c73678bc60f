"""End-to-end tests run the CLI in-process: what one command sets in the process environment
(`--debug` sets STAGESWEEP_DEBUG) must not reach the next test."""

from __future__ import annotations

import pytest

from cli.run import DEBUG_ENV


@pytest.fixture(autouse=True)
def _no_debug_left_behind(monkeypatch):
    """Each test starts without --debug, and whatever a `--debug` command set is undone after it."""
    monkeypatch.setenv(DEBUG_ENV, "false")
