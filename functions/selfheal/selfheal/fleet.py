"""A fleet's central view: each run's outcome as one EventBridge event on a central bus, and those events read back.

Every apply run (deploy, schedule, follow-up, change, a manual apply; not a plan or status, which change nothing and
would hide the last apply's outcome) of a stack deployed with `CentralEventBusArn` puts one event (`source: selfheal`,
`detail-type: selfheal run`) on that bus: the account, region, trigger, times, the summary counts and one line per
resource. fleet/central.yaml stores the events in a CloudWatch Logs log group; `selfheal fleet`
reads them back as one row per account and region (the latest run of each). docs/fleet.md has the whole picture.

An entry must fit PutEvents' 256 KB. What does not fit is cut in this order, and the event's `cut` list says what
went: the per-resource changes (their counts stay), then the reasons (shortened), then the resources that were ok
(the summary still counts them), then, for an estate of thousands of failing resources, the tail of the list.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired, Protocol, TypedDict

from .aws import AWS_ERRORS, explain
from .followup import Followup
from .model import FAILED, HEALED, Outcome, clip
from .report import Report

log = logging.getLogger(__name__)

SOURCE = "selfheal"
DETAIL_TYPE = "selfheal run"
DETAIL_VERSION = 1
DEFAULT_LOG_GROUP = "/aws/events/selfheal-fleet"  # fleet/central.yaml's rule writes here
# PutEvents: "The maximum size for a PutEvents event entry is 256 KB" (EventBridge API reference, PutEvents).
ENTRY_LIMIT = 256 * 1024
# The entry size AWS computes counts Source, DetailType, Detail, each Resources ARN and 14 bytes for Time
# (EventBridge user guide, "Calculating PutEvents event entry size"); the API reference adds "any necessary characters
# and keys of the JSON representation of the event". This much is kept free for those keys, the bus name and an id.
ENVELOPE_ALLOWANCE = 2048
TIME_BYTES = 14
REASON_LIMIT = 200  # a reason shortened when the entry is too big
GUARD_LIMIT = 1000
ENTRIES_PER_CALL = 10  # PutEvents takes at most 10 entries per request (one per run here)
BUS_ARN = re.compile(r"^arn:(aws[a-z-]*):events:([a-z0-9-]+):(\d{12}):event-bus/([A-Za-z0-9._/-]{1,256})$")


# --- the event -------------------------------------------------------------------------------------------------


# "from" is a keyword: the functional syntax; the same shape as Change.to_dict().
ChangeDict = TypedDict("ChangeDict", {"path": str, "from": Any, "to": Any})


class ResourceDetail(TypedDict):
    kind: str
    name: str
    outcome: str
    reason: str
    change_count: int
    changes: NotRequired[list[ChangeDict]]


class GuardDetail(TypedDict):
    message: str
    tripped: bool


class RunDetail(TypedDict):
    version: int
    account: str
    region: str
    function: str | None
    trigger: str
    action: str
    started: str
    finished: str
    duration_s: float
    summary: dict[str, int]
    guard: GuardDetail | None
    followup_at: str | None
    followup_problem: str | None
    resources: list[ResourceDetail]
    resource_count: int
    failing: int  # 1: an error, a conflict or the guard stopped the run (a number, for Logs Insights and dashboards)
    cut: list[str]


class RunEntry(TypedDict):
    """One PutEvents request entry."""

    Source: str
    DetailType: str
    Detail: str
    EventBusName: str
    Resources: list[str]
    Time: datetime


def parse_bus_arn(arn: str) -> tuple[str, str, str]:
    """(region, account, bus name) of an event bus ARN; ValueError naming the expected shape."""
    match = BUS_ARN.match(arn or "")
    if match is None:
        raise ValueError(f"central event bus {arn!r} is not an event bus ARN — expected "
                         "arn:aws:events:<region>:<account id>:event-bus/<name> (fleet/central.yaml's BusArn output)")
    return match.group(2), match.group(3), match.group(4)


def entry_size(entry: Mapping[str, Any]) -> int:
    """The bytes AWS counts against the 256 KB limit, plus the bus name and the allowance for the event's own keys."""
    size = len(str(entry["Source"]).encode()) + len(str(entry["DetailType"]).encode())
    size += len(str(entry.get("Detail") or "").encode())
    size += sum(len(str(r).encode()) for r in entry.get("Resources") or [])
    size += TIME_BYTES if entry.get("Time") is not None else 0
    size += len(str(entry.get("EventBusName") or "").encode())
    return size + ENVELOPE_ALLOWANCE


def run_detail(
    report: Report,
    account_id: str,
    region: str,
    function_arn: str | None = None,
    handed_over: Followup | None = None,
    finished: datetime | None = None,
) -> RunDetail:
    """The run as the central store keeps it, complete (nothing cut yet)."""
    finished = finished or datetime.now(UTC)
    started = finished - timedelta(seconds=max(0.0, report.duration_s))
    guard: GuardDetail | None = None
    if report.guard:
        guard = {"message": report.guard, "tripped": report.guard_tripped}
    resources: list[ResourceDetail] = [
        {"kind": r.kind, "name": r.name, "outcome": r.outcome.value, "reason": r.reason,
         "change_count": len(r.changes),
         "changes": [{"path": c.path, "from": c.old, "to": c.new} for c in r.changes]}
        for r in report.results
    ]
    return {
        "version": DETAIL_VERSION,
        "account": account_id,
        "region": region,
        "function": _function_name(function_arn),
        "trigger": report.trigger,
        "action": report.action,
        "started": _iso(started),
        "finished": _iso(finished),
        "duration_s": round(report.duration_s, 3),
        "summary": report.summary,
        "guard": guard,
        "followup_at": _iso(handed_over.at) if handed_over is not None and handed_over.at else None,
        "followup_problem": handed_over.problem or None if handed_over is not None else None,
        "resources": resources,
        "resource_count": len(resources),
        "failing": int(report.failed),
        "cut": [],
    }


def run_event(
    report: Report,
    account_id: str,
    region: str,
    bus_arn: str,
    function_arn: str | None = None,
    handed_over: Followup | None = None,
    finished: datetime | None = None,
    limit: int = ENTRY_LIMIT,
) -> RunEntry:
    """The PutEvents entry for one run, at most `limit` bytes as AWS counts them (see `fit`)."""
    detail = run_detail(report, account_id, region, function_arn, handed_over, finished)
    time = datetime.fromisoformat(detail["finished"])
    return fit(detail, bus_arn, [function_arn] if function_arn else [], time, limit)


def _entry(detail: RunDetail, bus_arn: str, resources: list[str], time: datetime) -> RunEntry:
    text = json.dumps(detail, default=str, sort_keys=True, ensure_ascii=False)  # UTF-8 is what AWS counts
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": text, "EventBusName": bus_arn,
            "Resources": resources, "Time": time}


def fit(detail: RunDetail, bus_arn: str, resources: list[str], time: datetime, limit: int = ENTRY_LIMIT) -> RunEntry:
    """The entry, cut until it fits: changes, then reasons, then ok resources, then the list's tail; `cut` says
    what went. ValueError if even the bare run (no resources) cannot fit, which only a tiny `limit` makes happen."""
    entry = _entry(detail, bus_arn, resources, time)
    if entry_size(entry) <= limit:
        return entry
    steps: list[Callable[[RunDetail], str | None]] = [_drop_changes, _shorten_reasons, _drop_ok]
    for step in steps:
        said = step(detail)
        if said:
            detail["cut"].append(said)
        entry = _entry(detail, bus_arn, resources, time)
        if entry_size(entry) <= limit:
            return entry
    if detail["guard"] is not None and len(detail["guard"]["message"]) > GUARD_LIMIT:
        detail["guard"]["message"] = clip(detail["guard"]["message"], GUARD_LIMIT)
        detail["cut"].append(f"guard: its message cut to {GUARD_LIMIT} characters")
    listed = detail["resources"]
    detail["resources"] = []
    detail["cut"].append("")  # placeholder: the size of its final wording is close to this one's
    low, high = 0, len(listed)  # the most resources that fit: binary search, each probe one json.dumps
    while low < high:
        middle = (low + high + 1) // 2
        detail["resources"] = listed[:middle]
        detail["cut"][-1] = _tail_cut(middle, len(listed))
        if entry_size(_entry(detail, bus_arn, resources, time)) <= limit:
            low = middle
        else:
            high = middle - 1
    detail["resources"] = listed[:low]
    detail["cut"][-1] = _tail_cut(low, len(listed))
    entry = _entry(detail, bus_arn, resources, time)
    if entry_size(entry) > limit:
        raise ValueError(f"a run event cannot fit {limit} bytes even without its resources")
    return entry


def _tail_cut(kept: int, listed: int) -> str:
    return (f"resources: the first {kept} of {listed} listed, the rest left out; the summary counts them all and "
            "the run's log names them")


def _drop_changes(detail: RunDetail) -> str | None:
    total = sum(r["change_count"] for r in detail["resources"] if "changes" in r)
    for r in detail["resources"]:
        r.pop("changes", None)
    if not total:
        return None
    return (f"changes: the {total} per-resource changes are left out (change_count keeps each resource's number); "
            "the run's log has them")


def _shorten_reasons(detail: RunDetail) -> str | None:
    shortened = 0
    for r in detail["resources"]:
        if len(r["reason"]) > REASON_LIMIT:
            r["reason"] = clip(r["reason"], REASON_LIMIT)
            shortened += 1
    return f"reasons: {shortened} cut to {REASON_LIMIT} characters" if shortened else None


def _drop_ok(detail: RunDetail) -> str | None:
    ok = [r for r in detail["resources"] if r["outcome"] == Outcome.OK.value]
    if not ok:
        return None
    detail["resources"] = [r for r in detail["resources"] if r["outcome"] != Outcome.OK.value]
    return f"ok resources: the {len(ok)} resources found ok are left out (summary.ok counts them)"


def _utc(moment: datetime) -> datetime:
    """A time without a zone is taken as UTC (selfheal always writes one; a hand-made event may not)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# --- sending it ------------------------------------------------------------------------------------------------


class _ClientSource(Protocol):
    region: str

    def client(self, service: str, region: str | None = None) -> Any: ...


def publish_run(clients: _ClientSource, bus_arn: str, entry: RunEntry) -> str | None:
    """One PutEvents call, to the bus's own region. Returns the problem (logged) or None; never raises for AWS."""
    try:
        region = parse_bus_arn(bus_arn)[0]
    except ValueError as exc:
        log.error("the run event was not sent: %s", exc)
        return str(exc)
    try:
        answer = clients.client("events", region).put_events(Entries=[dict(entry)])
    except AWS_ERRORS as exc:
        problem = explain(exc, "events:PutEvents", f"event bus {bus_arn}")
        log.error("the run event was not sent: %s", problem)
        return problem
    if answer.get("FailedEntryCount"):
        failed = (answer.get("Entries") or [{}])[0]
        problem = (f"events:PutEvents on event bus {bus_arn} refused the run event: {failed.get('ErrorCode')}: "
                   f"{failed.get('ErrorMessage')} — check the bus's resource policy (fleet/central.yaml allows the "
                   "Organization) and the role's events:PutEvents on that ARN")
        log.error("the run event was not sent: %s", problem)
        return problem
    return None


def tell_central(
    clients: _ClientSource,
    bus_arn: str,
    report: Report,
    handed_over: Followup | None = None,
    function_arn: str | None = None,
    account_id: str | None = None,
) -> str | None:
    """Build and send the run's event. The account comes from the function's ARN (no AWS call), else STS. Returns
    the problem or None; nothing here may fail the run, so any error is logged and returned."""
    try:
        account = account_id or _account_of(function_arn) or _caller_account(clients)
        entry = run_event(report, account, clients.region, bus_arn, function_arn, handed_over)
        log.info("run event for the central bus: %d bytes", entry_size(entry),
                 extra={"central_event": {"bus": bus_arn, "bytes": entry_size(entry), "cut": _cut_of(entry)}})
        return publish_run(clients, bus_arn, entry)
    except Exception as exc:  # noqa: BLE001 - telling the fleet is best effort: the run's own result stands
        log.exception("the run event was not sent")
        return f"{type(exc).__name__}: {exc}"


def _function_name(arn: str | None) -> str | None:
    """The name in arn:aws:lambda:<region>:<account>:function:<name>[:<alias or version>]."""
    parts = (arn or "").split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else None


def _account_of(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and re.fullmatch(r"\d{12}", parts[4]) else None


def _caller_account(clients: _ClientSource) -> str:
    account = getattr(clients, "account_id", None)
    if callable(account):
        return str(account())
    return str(clients.client("sts").get_caller_identity()["Account"])


def _cut_of(entry: RunEntry) -> list[str]:
    cut = json.loads(entry["Detail"]).get("cut")
    return list(cut) if isinstance(cut, list) else []


# --- reading the central store ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetRow:
    """The latest run of one account and region."""

    account: str
    region: str
    finished: datetime
    trigger: str
    action: str
    ok: int
    healed: int
    unfinished: int
    failed: int
    checked: int
    guard_tripped: bool
    in_error: tuple[str, ...]  # "kind name: outcome — reason" of each resource in error or conflict
    healed_names: tuple[str, ...]  # "kind name: outcome" of each resource healed
    cut: tuple[str, ...] = ()
    runs: int = 1  # run events of this account and region in the window
    stale: bool = False

    @property
    def failing(self) -> bool:
        return self.failed > 0 or self.guard_tripped

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "region": self.region, "last_run": _iso(self.finished),
                "trigger": self.trigger, "action": self.action,
                "counts": {"checked": self.checked, "ok": self.ok, "healed": self.healed,
                           "unfinished": self.unfinished, "failed": self.failed},
                "guard_tripped": self.guard_tripped, "in_error": list(self.in_error),
                "healed": list(self.healed_names), "cut": list(self.cut), "runs": self.runs, "stale": self.stale,
                "failing": self.failing}


@dataclass
class FleetView:
    rows: list[FleetRow] = field(default_factory=list)
    events_read: int = 0
    unreadable: int = 0  # log events that were not a selfheal run event

    @property
    def failing(self) -> list[FleetRow]:
        return [r for r in self.rows if r.failing]

    @property
    def stale(self) -> list[FleetRow]:
        return [r for r in self.rows if r.stale]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows], "accounts": len({r.account for r in self.rows}),
                "account_regions": len(self.rows), "failing": len(self.failing), "stale": len(self.stale),
                "healed": sum(r.healed for r in self.rows), "events_read": self.events_read}


def read_run_events(logs: Any, log_group: str, since: datetime) -> Iterator[str]:
    """The messages of `log_group` since `since` (FilterLogEvents, every page: a page may be empty and still have a
    nextToken, so only a missing or repeated token ends it)."""
    kwargs: dict[str, Any] = {"logGroupName": log_group, "startTime": int(since.timestamp() * 1000)}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page.get("events") or []:
            yield str(event.get("message") or "")
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return
        kwargs["nextToken"] = token


FUTURE_SKEW = timedelta(minutes=5)  # an event dated later than this past the reader's clock is refused


def fleet_view(messages: Iterable[str], now: datetime | None = None, stale_after: timedelta | None = None) -> FleetView:
    """The latest run per (account, region) from the stored events (each an EventBridge event as JSON).

    The account is the envelope's (EventBridge sets it to the sender's), never the detail's; "latest" is by the
    envelope's time, and an event dated in the future is refused (PutEvents lets a sender set Time: one event dated
    2099 would otherwise stand as its account's latest run for ever)."""
    now = now or datetime.now(UTC)
    view = FleetView()
    latest: dict[tuple[str, str], tuple[tuple[datetime, datetime], dict[str, Any]]] = {}
    runs: dict[tuple[str, str], int] = {}
    for message in messages:
        read = _run_of(message, now)
        if read is None:
            view.unreadable += 1
            continue
        account, sent, detail = read
        view.events_read += 1
        key = (account, str(detail["region"]))
        # The envelope's time has whole seconds: the run's own end only orders two runs of the same second.
        order = (sent, _utc(datetime.fromisoformat(str(detail["finished"]))))
        runs[key] = runs.get(key, 0) + 1
        if key not in latest or order > latest[key][0]:
            latest[key] = (order, detail)
    for key in sorted(latest):
        (sent, _), detail = latest[key]
        view.rows.append(_row(key[0], detail, sent, runs[key], now, stale_after))
    return view


def _run_of(message: str, now: datetime) -> tuple[str, datetime, dict[str, Any]] | None:
    """(the sender's account, the event's time, the detail) of a stored run event, or None if it is not one we
    believe."""
    try:
        event = json.loads(message)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or not all(k in detail for k in ("account", "region", "finished", "summary")):
        return None
    # EventBridge sets the envelope's account to the sender's; the detail is what the sender says. Any member of the
    # Organization may put events on the bus: a row is only ever the account that really sent it.
    account = event.get("account")
    if not isinstance(account, str) or not re.fullmatch(r"\d{12}", account) or account != str(detail["account"]):
        return None
    try:
        sent = _utc(datetime.fromisoformat(str(event.get("time"))))
        datetime.fromisoformat(str(detail["finished"]))
    except ValueError:
        return None
    if sent > now + FUTURE_SKEW:
        return None
    return account, sent, detail


def _row(account: str, detail: Mapping[str, Any], finished: datetime, runs: int, now: datetime,
         stale_after: timedelta | None) -> FleetRow:
    summary = detail.get("summary") or {}
    resources = [r for r in detail.get("resources") or [] if isinstance(r, dict)]
    failed = {o.value for o in FAILED}
    healed = {o.value for o in HEALED}
    in_error = tuple(f"{r.get('kind')} {r.get('name')}: {r.get('outcome')}"
                     + (f" — {r['reason']}" if r.get("reason") else "")
                     for r in resources if r.get("outcome") in failed)
    healed_names = tuple(f"{r.get('kind')} {r.get('name')}: {r.get('outcome')}"
                         for r in resources if r.get("outcome") in healed)
    guard = detail.get("guard") or {}
    return FleetRow(
        account=account, region=str(detail["region"]), finished=finished,
        trigger=str(detail.get("trigger") or "?"), action=str(detail.get("action") or "?"),
        ok=int(summary.get("ok", 0)), healed=int(summary.get("healed", 0)),
        unfinished=int(summary.get("unfinished", 0)), failed=int(summary.get("failed", 0)),
        checked=int(summary.get("checked", 0)), guard_tripped=bool(guard.get("tripped")),
        in_error=in_error, healed_names=healed_names, cut=tuple(str(c) for c in detail.get("cut") or []),
        runs=runs, stale=stale_after is not None and now - finished > stale_after,
    )


def parse_age(text: str) -> timedelta:
    """`7d`, `36h`, `90m` -> a timedelta; ValueError naming the form."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text or "")
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an age — use a whole number with m, h or d, e.g. 7d, 36h, 90m")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def render(console: Any, view: FleetView, log_group: str, since: datetime) -> None:
    """One rich table row per account and region; the failing and stale ones stand out."""
    from rich.table import Table  # noqa: PLC0415 - only the terminal needs rich

    table = Table(title=f"selfheal fleet — latest run per account and region ({log_group}, since {_iso(since)})")
    for column in ("account", "region", "last run (UTC)", "trigger", "ok", "healed", "unfinished", "failed",
                   "resources in error"):
        table.add_column(column, justify="right" if column in ("ok", "healed", "unfinished", "failed") else "left")
    for row in view.rows:
        style = "red" if row.failing else ("yellow" if row.stale else None)
        errors = "; ".join(row.in_error) or ("guard stopped the run" if row.guard_tripped else "-")
        when = row.finished.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + (" (stale)" if row.stale else "")
        table.add_row(row.account, row.region, when, row.trigger, str(row.ok), str(row.healed), str(row.unfinished),
                      str(row.failed), errors, style=style)
    console.print(table)
    console.print(f"{len({r.account for r in view.rows})} account(s), {len(view.rows)} account/region(s); "
                  f"{sum(r.healed for r in view.rows)} healed, {len(view.failing)} failing, {len(view.stale)} stale "
                  f"({view.events_read} run event(s) read)")


def exit_code(view: FleetView) -> int:
    """0: every account and region's last run ended without failure and is recent; 1 otherwise (or no runs)."""
    return 1 if not view.rows or view.failing or view.stale else 0
