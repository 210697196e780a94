"""`selfheal` as the tests run it: `selfheal(...)` in a subprocess as a user would (stdin not a terminal), `start(...)`
for several at once, `in_process(...)` through `cli.main` (for a test that counts calls or patches the package).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from selfheal import cli
from tests.support.estates import GALERLY


class Run(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def outcomes(self) -> dict[str, str]:
        return {r["name"]: r["outcome"] for r in self.json["resources"]}


def environment(endpoint: str | None = None, **extra: str) -> dict[str, str]:
    """The test's environment without any SELFHEAL_* of the machine but SELFHEAL_ESTATE naming the tests' own Galerly
    estate (tests/fixtures/galerly.yaml), 250 columns (rich would cut resource names to fit 80), AWS_ENDPOINT_URL set
    to `endpoint` when given; `extra` last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFHEAL_")}
    env["SELFHEAL_ESTATE"] = str(GALERLY)
    env["COLUMNS"] = "250"
    if endpoint is not None:
        env["AWS_ENDPOINT_URL"] = endpoint
    return {**env, **extra}


def start(*args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None) -> subprocess.Popen[str]:
    """`python -m selfheal ARGS` started, not waited for (pipes for stdout and stderr)."""
    return subprocess.Popen([sys.executable, "-m", "selfheal", *args], env=env or environment(), cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def selfheal(*args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None,
             timeout: float = 120) -> Run:
    """`python -m selfheal ARGS` run to its end."""
    proc = start(*args, env=env, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return Run(proc.returncode, out, err)


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """`selfheal ARGV` through `cli.main` in this process: its exit code and what it printed."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return Run(code, out, err)
