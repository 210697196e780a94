"""A team that ships its own estate in Galerly's place keeps the tests green: the estate-dependent unit tests, run in a
pytest of their own with tests/fixtures/acme.yaml where the shipped estate is (tests/support/shipped_elsewhere.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from selfheal.loader import load_estate

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "tests" / "fixtures" / "acme.yaml"


def test_the_estate_dependent_unit_tests_pass_with_another_teams_estate_shipped():
    # GIVEN acme's estate (3 tables, 2 buckets, other names) where Galerly's is shipped
    assert [t.name for t in load_estate(ACME, env={}).tables] == ["acme-orders", "acme-customers", "acme-events"]
    # WHEN the unit tests that use an estate run THEN they pass as they do with Galerly's shipped
    modules = ["test_plan.py", "test_spec.py", "test_recovery_plan.py", "test_change_routing.py", "test_schema.py",
               "test_bad_input.py", "test_partitions_and_teardown.py", "test_fleet_event.py"]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "tests.support.shipped_elsewhere",
         *(f"tests/unit/{m}" for m in modules)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
