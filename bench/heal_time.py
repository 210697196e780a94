"""Time to heal after a change: from a CloudTrail change event arriving at the handler to the resource healthy again.

For each change of the demo (a table deleted, PITR switched off, the photos bucket made public), on the seed estate:
the account is healed and broken at 0 ms (not measured), then the real handler (in-process, as Lambda runs it) gets
the change event at the bench's delay per call. A deleted table needs two runs: the change run starts the restore
and hands over; the follow-up (fired at once here: the local AWS's restore is instant) sets what a restore cannot
carry. The engine's share is the sum of those runs; AWS's own time is not in it:

* CloudTrail → EventBridge delivery: best effort, typically within minutes (AWS CloudTrail User Guide, "Creating
  EventBridge rules for CloudTrail events"; CloudTrail "typically delivers events within an average of about 5
  minutes of an API call"), the dominant term for a setting that flipped;
* a restore: 20 minutes to hours (it grows with the largest partition), plus the follow-up's delay
  (FollowupDelaySeconds, 5 minutes by default, doubling).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
GALERLY = ROOT / "tests" / "fixtures" / "galerly.yaml"  # the Galerly estate the change events name, by its path
CHANGES = {
    "table deleted": ("change-table-deleted.json", "galerly-photos"),
    "PITR switched off": ("change-pitr-off.json", "galerly-sessions"),
    "bucket made public": ("change-bucket-public.json", "galerly-images-storage"),
}


def _break(kind: str, ddb: Any, s3: Any) -> None:
    from devtools import breakage  # noqa: PLC0415

    if kind == "table deleted":
        breakage.delete_table(ddb, "galerly-photos")
    elif kind == "PITR switched off":
        breakage.switch_off_pitr(ddb, "galerly-sessions")
    else:
        breakage.make_public(s3, "galerly-images-storage")


def time_to_heal(aws: Any, delay_ms: float, session: Any, repeats: int = 3) -> dict[str, Any]:
    """Per change kind: the median engine time (change run, plus follow-up when there is one), calls and outcome."""
    sys.path.insert(0, str(ROOT))
    from devtools import followups  # noqa: PLC0415
    from devtools.invoke import LambdaContext, load_handler  # noqa: PLC0415
    from selfheal.aws import Clients  # noqa: PLC0415
    from selfheal.engine import Engine  # noqa: PLC0415
    from selfheal.loader import load_estate  # noqa: PLC0415

    saved = {k: v for k, v in os.environ.items() if k.startswith("SELFHEAL_")}  # put back after, as the log level
    _clear_selfheal_environment()
    os.environ.update({**followups.function_environment(1), "POWERTOOLS_TRACE_DISABLED": "true",
                       "AWS_ENDPOINT_URL": aws.endpoint, "SELFHEAL_CHANGE_LEASE_SECONDS": "300",
                       "SELFHEAL_ESTATE": str(GALERLY)})
    app = load_handler()
    level = app.logger.log_level  # put back after: the module (and its logger) outlive this measurement
    app.logger.setLevel("WARNING")
    estate = load_estate(GALERLY, env={})
    out: dict[str, Any] = {}
    for kind, (event_file, name) in CHANGES.items():
        event = json.loads((EVENTS / event_file).read_text())
        runs = []
        for _ in range(repeats):
            aws.set_delay(0)
            aws.reset()
            followups.create_group(aws.endpoint)
            assert Engine(estate, Clients(session=session, endpoint_url=aws.endpoint)).apply().exit_code == 0
            ddb = session.client("dynamodb", endpoint_url=aws.endpoint)
            s3 = session.client("s3", endpoint_url=aws.endpoint)
            _break(kind, ddb, s3)
            aws.reset_calls()
            aws.set_delay(delay_ms)
            started = time.perf_counter()
            first = app.lambda_handler(event, LambdaContext(timeout_s=900))
            change_s = time.perf_counter() - started
            outcome = first["resources"][0]["outcome"]
            followup_s = 0.0
            if "followup" in first:  # the restore: its follow-up finishes the job
                fired = followups.due(aws.endpoint, timeout=600)
                started = time.perf_counter()
                again = app.lambda_handler(fired.event, LambdaContext(timeout_s=900))
                followup_s = time.perf_counter() - started
                outcome = next(r["outcome"] for r in again["resources"] if r["name"] == name)
            aws.set_delay(0)
            calls = [c for c in aws.calls() if c.get("client") == "selfheal"]
            runs.append({"change_run_s": change_s, "followup_run_s": followup_s, "engine_s": change_s + followup_s,
                         "calls": len(calls), "writes": sum(1 for c in calls if c["write"]), "outcome": outcome})
        runs.sort(key=lambda r: r["engine_s"])
        out[kind] = {**runs[len(runs) // 2], "resource": name, "event": event_file, "repeats": repeats}
    _clear_selfheal_environment()
    os.environ.update(saved)  # a process that runs this (a test session) keeps the estate it named
    os.environ.pop("AWS_ENDPOINT_URL", None)
    app.logger.setLevel(level)
    return out


def _clear_selfheal_environment() -> None:
    for var in [v for v in os.environ if v.startswith("SELFHEAL_")]:
        del os.environ[var]
