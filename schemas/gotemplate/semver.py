"""Sprig's semver and semverCompare (Masterminds/semver v3 rules)."""

from __future__ import annotations

from schemas.gotemplate.funcs import FuncTable

SEMVER: FuncTable = {}
