"""The suite reads its own Galerly estate (tests/fixtures/galerly.yaml), never the shipped one by accident: a team
that ships its own estate in Galerly's place keeps the tests green."""

from __future__ import annotations

import os
import re
from pathlib import Path

from selfheal.loader import ENV_ESTATE, load_estate
from tests.support.estates import GALERLY

ROOT = Path(__file__).resolve().parents[2]
# Tests that name the shipped estate on purpose, and assume nothing about what it declares.
NAMES_THE_SHIPPED_ONE = {"tests/unit/test_schema.py", "tests/unit/test_bad_input.py", "tests/e2e/test_cli.py",
                         "tests/e2e/test_package.py", "tests/support/shipped_elsewhere.py",
                         "tests/unit/test_template.py",  # (the shipped estate takes every var the stack sets)
                         "tests/unit/test_yaml_parsers.py",  # (read alike by both YAML parsers)
                         "tests/unit/test_generated_validators.py",  # (loaded with nothing compiled at run time)
                         "bench/run.py"}  # (the cold init heals the estate the handler reads: the shipped one)


def test_every_run_the_tests_start_reads_their_own_galerly_estate():
    assert os.environ[ENV_ESTATE] == str(GALERLY)
    assert [t.name for t in load_estate(env=os.environ).tables][:1] == ["galerly-users"]


def test_no_test_reads_the_shipped_estate_without_naming_it():
    implicit = re.compile(r"load_estate\((env=\{\}|\)|overrides=)|DEFAULT_ESTATE_PATH"
                          r"|functions/selfheal/(selfheal/)?estate")
    files = [path for folder in ("tests", "bench", "devtools") for path in (ROOT / folder).rglob("*.py")]
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in files
        if path != Path(__file__) and str(path.relative_to(ROOT)) not in NAMES_THE_SHIPPED_ONE
        and implicit.search(path.read_text(encoding="utf-8"))
    )
    assert offenders == []
