"""Reliability fixtures: AWS faults injected per operation and resource, every call recorded, and the checks each
scenario ends with (the rest healthy, nothing deleted, no item lost, a clean run converges to 0 writes).

Faults are botocore event hooks on the Session given to `Clients`, so the engine talks to the local AWS over HTTP
exactly as it does to AWS, and only the chosen call of the chosen resource misbehaves. Two injection points:

* ``at="call"`` (``before-call``): the call raises a ClientError before any request is made. botocore's retry never
  sees it, so only the engine's own retry (apply/executor.py, a kind's retry_later) can recover.
* ``at="send"`` (``before-send``): the HTTP exchange is replaced by an error response (status + AWS's error body).
  botocore parses it and its standard retry mode decides, as it would for a real throttle or 5xx.

Two records of what was called: the proxy's log (what reached "AWS", with its status) and `Recorder`, a client-side
``before-call`` hook that also sees the attempts a fault stopped before they left the process.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.loaders
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from devtools.localaws import LocalAws
from selfheal.aws import Clients
from selfheal.engine import Engine, Options
from selfheal.loader import load_estate
from selfheal.model import HEALED, Outcome
from selfheal.report import Report
from selfheal.spec import Estate
from tests.functional.helpers import assert_bucket_as_declared, assert_table_as_declared
from tests.support.enforce import enforce_template_policy
from tests.support.estates import GALERLY

REGION = "us-east-1"
FAST = {"poll_seconds": 0.05, "retry_base_seconds": 0.01}  # moto is ACTIVE at once: nothing should sleep long
HEALTHY = (Outcome.OK, *HEALED)

# Tables that exist before each scenario, each drifted in its own way and holding ITEMS items.
SEEDED = ("galerly-users", "galerly-newsletters", "galerly-sessions")
ITEMS = 5
KEY = {"galerly-users": "email", "galerly-newsletters": "email", "galerly-sessions": "token"}


_LOADER = botocore.loaders.create_loader()  # service models read once for the whole suite, not once per Session


def new_session() -> boto3.Session:
    """A fresh Session (own event hooks, own clients) that shares the parsed service models."""
    session = boto3.Session(region_name=REGION)
    session._session.register_component("data_loader", _LOADER)
    return session


# --- the fault injector -----------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One misbehaviour: `operation` (botocore name, e.g. "UpdateTable") of `service` on resource `name` (None: any)."""

    service: str
    operation: str
    name: str | None = None
    code: str | None = None  # the AWS error code to answer with; None: no error (a slow call or an action only)
    status: int = 400
    message: str = "injected by the reliability suite"
    times: int | None = None  # how many attempts misbehave; None: every attempt (persistent)
    at: str = "call"  # "call" (before-call, bypasses botocore's retry) | "send" (before-send, botocore retries)
    sleep: float = 0.0  # seconds to hold the call first (a slow AWS)
    sleep_until: Callable[[], float] | None = None  # or hold it until this time.monotonic() value
    action: Callable[[], Any] | None = None  # run once before the call, e.g. another run creating the same table
    hits: int = 0

    def matches(self, service: str, operation: str, name: str | None) -> bool:
        if (service, operation) != (self.service, self.operation):
            return False
        if self.name is not None and name != self.name:
            return False
        return self.times is None or self.hits < self.times


class Recorder:
    """Every call attempt the engine's clients begin, faulted or not: [(service, operation, resource name)]."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()

    def __call__(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.calls.append((model.service_model.service_name, model.name, context.get(_NAME)))

    def count(self, operation: str, name: str | None = None) -> int:
        return sum(1 for _, op, n in self.calls if op == operation and (name is None or n == name))


class Faults:
    """Installs hooks on one boto3 Session; `clients()` gives the engine `Clients` built on it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.session = new_session()
        self.rules: list[Fault] = []
        self.recorder = Recorder()
        self._lock = threading.Lock()
        events = self.session.events
        events.register("before-parameter-build", _remember_name)
        events.register("before-call", self.recorder)  # first, so faulted attempts are recorded too
        events.register("before-call", self._before_call)
        events.register("before-send", self._before_send)

    def add(self, service: str, operation: str, name: str | None = None, **how: Any) -> Fault:
        fault = Fault(service, operation, name, **how)
        with self._lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def clients(self) -> Clients:
        return Clients(session=self.session, endpoint_url=self.endpoint)

    def _take(self, at: str, service: str, operation: str, name: str | None) -> Fault | None:
        with self._lock:
            for fault in self.rules:
                if fault.at == at and fault.matches(service, operation, name):
                    fault.hits += 1
                    return fault
        return None

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        fault = self._take("call", service, operation, context.get(_NAME))
        if fault is None:
            return
        if fault.action is not None and fault.hits == 1:
            fault.action()
        _hold(fault)
        if fault.code:
            raise ClientError(
                {
                    "Error": {"Code": fault.code, "Message": fault.message},
                    "ResponseMetadata": {"HTTPStatusCode": fault.status},
                },
                operation,
            )

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        fault = self._take("send", service, operation, _name_from_request(service, request))
        if fault is None:
            return None
        _hold(fault)
        if not fault.code:
            return None
        if service == "s3":
            headers = {"content-type": "application/xml"}
            body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{fault.code}</Code>'
                    f"<Message>{fault.message}</Message></Error>").encode()
        else:
            headers = {"content-type": "application/x-amz-json-1.0"}
            body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{fault.code}",
                               "message": fault.message}).encode()
        return AWSResponse(request.url, fault.status, headers, _Raw(body))


def _hold(fault: Fault) -> None:
    pause = fault.sleep
    if fault.sleep_until is not None:
        pause = max(pause, fault.sleep_until() - time.monotonic())
    if pause > 0:
        time.sleep(pause)


class _Raw:
    """The raw body of an injected HTTP response, read the way botocore reads urllib3's."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


_NAME = "reliability_resource_name"


def _remember_name(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """before-parameter-build sees the API parameters; later hooks see only the serialized request and `context`."""
    context[_NAME] = _name_from_params(params)


def _name_from_params(params: dict[str, Any]) -> str | None:
    for key in ("TableName", "TargetTableName", "Bucket", "KeyId"):
        if params.get(key):
            return str(params[key])
    arn = str(params.get("ResourceArn") or "")
    return arn.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in arn else None


def _name_from_request(service: str, request: Any) -> str | None:
    if service == "s3":
        parts = urllib.parse.urlsplit(request.url)
        path = parts.path.lstrip("/").split("/", 1)[0]
        host = parts.hostname or ""
        return path or (host.split(".", 1)[0] if not host.replace(".", "").isdigit() else None)
    try:
        return _name_from_params(json.loads(request.body or b"{}"))
    except (TypeError, ValueError):
        return None


@pytest.fixture(autouse=True)
def enforce_role_policy(request: pytest.FixtureRequest) -> None:
    """The function role's policy is enforced on every call selfheal makes here (tests/support/enforce.py)."""
    enforce_template_policy(request)


@pytest.fixture
def faults(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Faults:
    """A fault injector on a fresh Session. botocore's retry *decisions* stay real; only its sleeps are shortened."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0.01)
    return Faults(aws.endpoint)


# --- the world each scenario starts from and the checks it ends with --------------------------------------------------


@dataclass
class World:
    """The local AWS plus plain boto3 clients for setting up and reading back, independent of selfheal's code."""

    aws: LocalAws
    estate: Estate
    ddb: Any = field(init=False)
    s3: Any = field(init=False)
    kms: Any = field(init=False)
    seeded_items: dict[str, int] = field(default_factory=dict)  # table -> items put there by seed()
    _clean: Clients | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        session = new_session()
        self.ddb = session.client("dynamodb", endpoint_url=self.aws.endpoint)
        self.s3 = session.client("s3", endpoint_url=self.aws.endpoint)
        self.kms = session.client("kms", endpoint_url=self.aws.endpoint)

    # --- running the engine

    def run(self, action: str = "apply", clients: Clients | None = None, estate: Estate | None = None,
            **options: Any) -> Report:
        if clients is None:  # no faults: one set of clients serves every clean run of the scenario
            self._clean = self._clean or Clients(session=new_session(), endpoint_url=self.aws.endpoint)
            clients = self._clean
        return Engine(estate or self.estate, clients, Options(**{**FAST, **options})).run(action)

    # --- setting up

    def seed(self) -> None:
        """SEEDED tables exist with ITEMS items each, drifted: users and sessions unprotected, newsletters provisioned,
        sessions without PITR and TTL. Everything else is missing. Forgets the calls this made."""
        seeded = self.run(estate=self.estate.only(SEEDED))
        assert seeded.exit_code == 0, seeded.failure_reason()
        self.ddb.update_table(TableName="galerly-users", DeletionProtectionEnabled=False)
        self.ddb.update_table(TableName="galerly-newsletters", BillingMode="PROVISIONED",
                              ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        self.ddb.update_table(TableName="galerly-sessions", DeletionProtectionEnabled=False)
        self.ddb.update_continuous_backups(TableName="galerly-sessions",
                                           PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
        self.ddb.update_time_to_live(TableName="galerly-sessions",
                                     TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
        for table in SEEDED:
            for i in range(ITEMS):
                self.ddb.put_item(TableName=table, Item={KEY[table]: {"S": f"{table}-{i}"}, "n": {"N": str(i)}})
            self.seeded_items[table] = ITEMS
        self.aws.reset_calls()

    @staticmethod
    def result(report: Report, name: str) -> Any:
        (found,) = [r for r in report.results if r.name == name]
        return found

    def items(self, table: str) -> int:
        return self.ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]

    # --- checking

    def assert_no_deletes(self, recorder: Recorder | None = None) -> None:
        deletes = [c for c in self.aws.calls() if c["operation"].startswith("Delete")]
        assert deletes == [], f"delete calls reached AWS: {deletes}"
        if recorder is not None:
            tried = [c for c in recorder.calls if c[1].startswith("Delete")]
            assert tried == [], f"delete calls were attempted: {tried}"

    def assert_items_kept(self) -> None:
        assert {t: self.items(t) for t in self.seeded_items} == self.seeded_items

    def assert_healthy(self, report: Report, except_: tuple[str, ...] = ()) -> None:
        """Every resource but `except_` has a healthy outcome and, read back from AWS, every declared setting."""
        for r in report.results:
            if r.name in except_:
                continue
            assert r.outcome in HEALTHY, f"{r.kind} {r.name}: {r.outcome} {r.reason}"
        for spec in self.estate.tables:
            if spec.name not in except_:
                assert_table_as_declared(self.ddb, self.kms, spec)
        for spec in self.estate.buckets:
            if spec.name not in except_:
                assert_bucket_as_declared(self.s3, spec)

    def converge(self, first_clean_run_writes: bool | None = None) -> Report:
        """With no faults: one apply heals what is left; a further apply finds everything ok and writes nothing.

        first_clean_run_writes: False asserts the faulted run already finished the job (its clean rerun writes 0).
        """
        self.aws.reset_calls()
        first = self.run()
        assert first.exit_code == 0, first.failure_reason()
        self.assert_healthy(first)
        if first_clean_run_writes is not None:
            assert bool(self.aws.writes()) is first_clean_run_writes, self.aws.writes()
        self.aws.reset_calls()
        second = self.run()
        assert {r.outcome for r in second.results} == {Outcome.OK}, second.to_dict()
        assert self.aws.writes() == []
        assert second.exit_code == 0
        self.assert_no_deletes()
        self.assert_items_kept()
        return second


@pytest.fixture
def world(aws: LocalAws) -> World:
    return World(aws, load_estate(GALERLY, env={}))


@pytest.fixture
def seeded(world: World) -> World:
    world.seed()
    return world
