"""Fixtures for the engine's acceptance tests: the shipped estate (plain boto3 clients: tests/conftest.py)."""

from __future__ import annotations

import pytest

from selfheal.spec import Estate
from tests.functional.helpers import shipped_estate


@pytest.fixture(scope="session")
def estate() -> Estate:
    """The estate shipped with the function: the expectations of every test derive from it."""
    return shipped_estate()
