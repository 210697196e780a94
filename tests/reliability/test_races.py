"""Several runs at once (a deploy while the nightly run is going, an operator on top): they must not fight.

GIVEN an empty account WHEN four `selfheal apply --json` processes start together THEN every declared table and
bucket exists once and fully configured, every process exits 0, and each race a process lost is one AWS itself
produces (CreateTable answered ResourceInUseException) and is named in that process's report.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter

from selfheal.model import Outcome
from tests.functional.helpers import assert_bucket_as_declared, assert_table_as_declared
from tests.support import cli

RUNS = 4
RACED = "already existed: another run created it first"


def test_four_concurrent_applies_on_an_empty_account_build_the_estate_once(world):
    procs = [cli.start("apply", "--json", env=cli.environment(world.aws.endpoint)) for _ in range(RUNS)]
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}\n{out[-2000:]}"
        outputs.append(json.loads(out))

    calls = world.aws.calls()
    tables = [t.name for t in world.estate.tables]
    buckets = [b.name for b in world.estate.buckets]
    healthy = {o.value for o in (Outcome.OK, Outcome.CREATED, Outcome.REPAIRED)}
    for report in outputs:
        assert report["summary"]["failed"] == 0 and report["summary"]["deferred"] == 0
        assert {r["name"] for r in report["resources"]} == {r.name for r in world.estate.resources}
        assert {r["outcome"] for r in report["resources"]} <= healthy, report["summary"]

    # Exactly one CreateTable per table succeeded; every other one got AWS's own answer, ResourceInUseException,
    # and the process that sent it says so in its report (one note per lost race).
    for name in tables:
        statuses = Counter(c["status"] for c in calls if c["operation"] == "CreateTable" and c["name"] == name)
        assert statuses[200] == 1, (name, statuses)
        assert set(statuses) <= {200, 400}, (name, statuses)
        noted = sum(
            1 for report in outputs for r in report["resources"] if r["name"] == name and RACED in " ".join(r["notes"])
        )
        assert noted == statuses[400], (name, statuses, noted)
        created = [r["outcome"] for report in outputs for r in report["resources"] if r["name"] == name]
        assert created.count("created") >= 1, (name, created)
    assert not [c for c in calls if c["operation"].startswith("Delete")]
    assert not [c for c in calls if c["operation"] == "RestoreTableFromBackup"]

    listed = world.ddb.list_tables()["TableNames"]
    assert sorted(listed) == sorted(tables)
    assert sorted(b["Name"] for b in world.s3.list_buckets()["Buckets"]) == sorted(buckets)
    for spec in world.estate.tables:
        assert_table_as_declared(world.ddb, world.kms, spec)
    for spec in world.estate.buckets:
        assert_bucket_as_declared(world.s3, spec)

    plan = world.run("plan")
    assert plan.exit_code == 0, plan.to_dict()
    world.aws.reset_calls()
    again = world.run()
    assert {r.outcome for r in again.results} == {Outcome.OK}
    assert world.aws.writes() == []
