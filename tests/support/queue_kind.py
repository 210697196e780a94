"""A queue kind (SQS), kept out of the package: everything about it is this module, as a new kind's is.

It brings what the Kind seam asks for: a spec type, its estate section (`queues:`), observe, plan, the operation
that creates it, its status details and columns, and the CloudTrail calls that name one of its queues. No module of
selfheal changes for it; tests/e2e/test_new_kind.py registers it and runs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from selfheal.context import RunContext
from selfheal.fields import Checker, Int, Obj, Text, region_field
from selfheal.kinds import Column, Kind
from selfheal.kinds.base import Routed
from selfheal.model import Change, ResourcePlan, Step


@dataclass(frozen=True)
class QueueSpec:
    name: str
    region: str
    visibility_timeout_seconds: int = 30

    kind = "queue"


@dataclass(frozen=True)
class QueueState:
    name: str
    exists: bool
    url: str | None = None
    visibility_timeout_seconds: int | None = None


class QueueKind(Kind[QueueSpec, QueueState]):
    name = "queue"
    section = "queues"
    title = "SQS queues"
    spec_type = QueueSpec
    creates = ("create_queue",)
    columns = (Column("visibility timeout", "visibility_timeout", justify="right"), Column("url", "url"))
    # Its estate entry, declared once: the loader validates with it and `selfheal schema` shows it to editors.
    fields = Obj("queue", {
        "name": Text(r"[A-Za-z0-9_-]{1,80}", "a queue name of 1-80 letters, digits, _ -"),
        "region": region_field("AWS region; default: the `region` var"),
        "visibility_timeout_seconds": Int(0, 43200, default=30),
    }, required=("name",), description="an SQS queue")
    event_sources = ("aws.sqs",)
    events = frozenset({"DeleteQueue", "SetQueueAttributes"})

    def load(self, parser: Checker, raw: Any, path: str, region: str) -> QueueSpec:
        return QueueSpec(raw["name"], raw.get("region", region), raw.get("visibility_timeout_seconds", 30))

    def observe(self, ctx: RunContext, spec: QueueSpec) -> QueueState:
        sqs = ctx.clients.client("sqs", spec.region)
        try:
            url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
        except ClientError as exc:
            if "NonExistentQueue" in exc.response["Error"]["Code"] or "QueueDoesNotExist" in str(exc):
                return QueueState(spec.name, exists=False)
            raise
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        return QueueState(spec.name, True, url, int(attrs["VisibilityTimeout"]))

    def plan(self, ctx: RunContext, spec: QueueSpec, state: QueueState) -> ResourcePlan:
        want = {"VisibilityTimeout": str(spec.visibility_timeout_seconds)}
        if not state.exists:
            create = Step("sqs", "create_queue", {"QueueName": spec.name, "Attributes": want},
                          (Change("queue", "missing", "created"),), spec.region)
            return ResourcePlan("queue", spec.name, False, (create,), then_reconcile=True)
        if state.visibility_timeout_seconds == spec.visibility_timeout_seconds:
            return ResourcePlan("queue", spec.name, True)
        repair = Step("sqs", "set_queue_attributes", {"QueueUrl": state.url, "Attributes": want},
                      (Change("visibility_timeout_seconds", state.visibility_timeout_seconds,
                              spec.visibility_timeout_seconds),), spec.region)
        return ResourcePlan("queue", spec.name, True, (repair,))

    def details(self, spec: QueueSpec, state: QueueState | None) -> dict[str, Any]:
        if state is None or not state.exists:
            return {"status": "MISSING"} if state else {}
        return {"status": "EXISTS", "visibility_timeout": state.visibility_timeout_seconds, "url": state.url}

    def target(self, step: Step) -> str:
        return f"queue {step.params.get('QueueName') or str(step.params.get('QueueUrl', '?')).rsplit('/', 1)[-1]}"

    def changed(self, event: str, params: Mapping[str, Any], specs: Sequence[QueueSpec]) -> Routed:
        if event not in self.events:
            return None
        name = str(params.get("queueUrl", "")).rsplit("/", 1)[-1]  # CloudTrail names an SQS queue by its URL
        if name not in {q.name for q in specs}:
            return f"{event} on queue {name!r}, which the estate does not declare"
        return (name,)
