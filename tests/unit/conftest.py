"""tests/unit: pure and fast — no local AWS, no subprocess, no server. A test that needs one belongs in
tests/functional or tests/e2e; here it fails at once, naming what it reached for."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest

SERVER_FIXTURES = {"aws", "local_aws", "enforced"}  # each starts (or is) the local AWS server (tests/conftest.py)


def pytest_runtest_setup(item: pytest.Item) -> None:
    wanted = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
    if wanted:
        pytest.fail(f"{item.nodeid} uses {', '.join(sorted(wanted))}: a unit test runs no server — move it to "
                    "tests/functional or tests/e2e", pytrace=False)


@pytest.fixture(autouse=True)
def no_subprocess_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a process or listening on a socket fails the test, naming where such a test belongs."""

    def refuse(what: str) -> Any:
        def refused(*_: Any, **__: Any) -> Any:
            raise AssertionError(f"a unit test {what}: move it to tests/functional or tests/e2e")

        return refused

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a subprocess"))
    monkeypatch.setattr(socket.socket, "listen", refuse("starts a server"))


@pytest.fixture(params=["libyaml", "pure-yaml"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The estate read by libyaml's parser (where PyYAML has it), then by the pure-Python one: a module's tests run
    with both through `pytestmark = pytest.mark.usefixtures("yaml_parser")`."""
    from selfheal import loader  # noqa: PLC0415 - only the modules that ask for it

    monkeypatch.setattr(loader, "LIBYAML", request.param == "libyaml")
    return str(request.param)
