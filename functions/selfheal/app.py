"""The Lambda face: routes a CloudFormation custom-resource request, an EventBridge scheduled event or a manual
event to the engine, and reports the run as JSON log lines, EMF metrics and (for CloudFormation) one response.

Events handled (see events/*.json):

* CloudFormation custom resource — Create/Update reconcile the estate (trigger "deploy", blast-radius guard off) and
  answer SUCCESS with the run's summary as Data, or FAILED naming the resources that are not healthy. Delete answers
  SUCCESS at once: removing the stack never touches the estate. Exactly one response per request. The resource's
  properties only make CloudFormation call again when they change; the estate and its vars come from the environment.
* EventBridge scheduled event — reconcile (trigger "schedule", guard on); returns the report as a dict.
* Manual ``{"action": "plan" | "apply" | "status", "only": [names]}`` — that action (trigger "manual"); returns the
  report as a dict.
* Follow-up ``{"source": "selfheal", "detail-type": "selfheal follow-up", "detail": {"link": n}}`` — sent by the
  one-time schedule an earlier run left for work AWS had not finished (a restore, an index build): reconcile again
  (trigger "followup", guard on); with ``"only": [names]`` just those (a change's second look).
* Change — a CloudTrail record of an API call that can break a declared resource, as EventBridge delivers it
  (``"detail-type": "AWS API Call via CloudTrail"``): reconcile only the resource it names (an account-level public
  access block change: the public buckets), trigger "change". The function's own calls, undeclared resources and
  failed calls are ignored with one debug line and no AWS call. A burst for one resource is coalesced: the first
  event takes a lease (a one-time schedule that looks again a minute later) and runs; the others find it and stop.

Every run that healed, failed, was stopped by the guard or left work in progress publishes one message to the alarm
topic (selfheal/notify.py): what was found, who changed it, what was done, what is still in progress. With
SELFHEAL_CENTRAL_EVENT_BUS_ARN set, every apply run also puts one event on a fleet's central bus (selfheal/fleet.py).

Restores are started, never waited for (they take 20 minutes to hours): a run that ends with work in progress
schedules one follow-up run (selfheal/followup.py), and a deploy answers SUCCESS with the counts — only errors and
conflicts fail it.

Anything else raises `InvalidEvent` (the invocation fails with a message naming the problem and the fix) before any
AWS call; a CloudFormation-looking event that cannot be answered is never sent anywhere.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from selfheal.aws import Clients
from selfheal.engine import Engine, Options
from selfheal.loader import load_estate
from selfheal.model import Outcome, clip
from selfheal.report import Report
from selfheal.spec import EstateError

# Imported where a run needs them, not by every cold start: crhelper (CloudFormation requests), change (change
# events), followup (unfinished work, follow-up events), notify (a topic), fleet (a central bus).
if TYPE_CHECKING:
    from crhelper import CfnResource

    from selfheal.change import Change
    from selfheal.followup import Followup

PHYSICAL_ID = "selfheal-estate"  # constant: a new id on Update would make CloudFormation send a Delete for the old one
ACTIONS = ("plan", "apply", "status")
MANUAL_FIELDS = ("action", "only")
CFN_FIELDS = ("RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType")
CFN_REQUEST_TYPES = ("Create", "Update", "Delete")
CENTRAL_EVENT_MIN_S = 5.0  # the run event is sent only with this much of the invocation left
TIMER_GUARD_MS = 1000  # a deploy run ending closer than this to the Lambda's end could race crhelper's timeout answer
REASON_LIMIT = 250  # CloudFormation cuts Reason at 256 characters
# Stop starting work this long before the Lambda times out, so the run can still report and answer CloudFormation.
MARGIN_FRACTION, MARGIN_MIN_S, MARGIN_MAX_S = 0.1, 3.0, 60.0

logger = Logger(service="selfheal")
metrics = Metrics(namespace="Selfheal", service="selfheal")


def _xray_sdk_available() -> bool:
    try:
        return importlib.util.find_spec("aws_xray_sdk") is not None
    except (ImportError, ValueError):
        return False


def _tracing_wanted() -> bool:
    """Tracing costs the X-Ray SDK's import (~0.13 s of every cold start): pay it only when traces can be sent.

    Powertools' Tracer needs the SDK even when disabled, so without the SDK the handler runs untraced rather than
    failing its import; with POWERTOOLS_TRACE_DISABLED, or outside Lambda, there is no tracer at all.
    """
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return not disabled and "AWS_LAMBDA_FUNCTION_NAME" in os.environ and _xray_sdk_available()


tracer: Tracer | None = Tracer(patch_modules=("botocore",)) if _tracing_wanted() else None


def _traced(handler: Any) -> Any:
    return tracer.capture_lambda_handler(handler, capture_response=False) if tracer else handler


# crhelper logs the event and the presigned ResponseURL at DEBUG: keep its loggers at INFO or above, whatever LOG_LEVEL.
_CRHELPER_LEVEL = logging.getLevelName(max(logger.log_level, logging.INFO))


class InvalidEvent(ValueError):
    """The event is not one this function handles; the message names the problem and the fix."""


class _Late(BaseException):  # noqa: N818 - not an error: a response that must not be sent
    """A deploy run that outlived crhelper's timeout answer (FAILED "Execution timed out"): its own result must not
    become a second response. A BaseException, so crhelper's handler wrapper (which answers any Exception) lets it
    through unanswered; lambda_handler ends the invocation on it."""


def _custom_resource() -> CfnResource:
    """crhelper for one CloudFormation request, through its public interface (the decorators, Status, Reason, Data).

    Built per request, not at import: crhelper builds the Lambda, EventBridge and Logs clients of its polling mode
    when it is constructed, which only custom-resource requests should pay for. Responses go through crhelper's own
    sender to the presigned HTTPS ResponseURL. Exactly one response: crhelper answers whatever the decorated function
    returns or raises, and its timer answers FAILED half a second before the Lambda times out — a run that outlives
    that raises `_Late` instead of returning (see `_answered_by_timer`).
    """
    from crhelper import CfnResource  # noqa: PLC0415

    class _CfnResource(CfnResource):
        """crhelper, minus one of its rules: a failure to build its polling-mode clients (this function never polls)
        must not turn every answer into FAILED — a Delete that cannot pass leaves the stack undeletable."""

        def init_failure(self, error: Exception) -> None:  # crhelper's public hook for a failed start-up
            logger.warning("crhelper could not build its polling clients; they are not used here",
                           extra={"error": f"{type(error).__name__}: {error}"})

    helper = _CfnResource(json_logging=False, log_level=_CRHELPER_LEVEL, sleep_on_delete=0, polling_interval=1)

    def create_or_update(event: dict[str, Any], context: Any) -> str:
        physical_id, status, reason, data = deploy(event, context)
        _answered_by_timer(context)
        helper.Data.update(data)
        if status == "FAILED":
            helper.Status, helper.Reason = status, reason
        return physical_id

    def on_delete(event: dict[str, Any], context: Any) -> str:
        return delete(event, context)

    helper.create(create_or_update)
    helper.update(create_or_update)
    helper.delete(on_delete)
    return helper


def _answered_by_timer(context: Any) -> None:
    """crhelper's timer answers FAILED at 0.5 s before the Lambda's end. Returning close to that would race it into a
    second response: within TIMER_GUARD_MS of the end, stop without answering — and do not return before the Lambda
    ends the invocation either, since Lambda freezes a returned invocation's threads and the timer's answer (sent from
    its own thread) would be cut off."""
    left = context.get_remaining_time_in_millis()
    if left >= TIMER_GUARD_MS:
        return
    logger.error("the run outlived the time crhelper allows: its timeout answer (FAILED) stands, this result is "
                 "not sent", extra={"remaining_ms": left})
    time.sleep(left / 1000 + 1.0)  # Lambda ends the invocation first; locally, the timer has long answered by then
    raise _Late


# Runs that end before any metric is added (Delete, a refused event) are expected: no warning line for them.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# The core's loggers (selfheal.*) are children of the Logger's own "selfheal" logger; crhelper's get the same JSON
# (its logger is made here: crhelper itself is imported only for a CloudFormation request).
logging.getLogger("crhelper")
copy_config_to_registered_loggers(source_logger=logger, include={"selfheal", "crhelper"})
logging.getLogger("crhelper").setLevel(_CRHELPER_LEVEL)


# --- the handler ------------------------------------------------------------------------------------------------


@logger.inject_lambda_context(log_event=False, clear_state=True)  # never log the event: it carries the ResponseURL
@metrics.log_metrics
@_traced
def lambda_handler(event: Any, context: Any) -> dict[str, Any] | None:
    """Route one invocation. CloudFormation is answered through its ResponseURL (returns None); the others return
    the report as a dict. Raises InvalidEvent for an event it does not handle."""
    try:
        route = classify(event)
    except InvalidEvent as exc:
        logger.error("event not handled", extra={"reason": str(exc), "event_keys": _keys(event)})
        raise
    if route == "cloudformation":
        logger.info("CloudFormation request", extra={"request_type": event["RequestType"], "stack_id": event["StackId"],
                                                     "logical_resource_id": event["LogicalResourceId"]})
        try:
            _custom_resource()(event, context)
        except _Late:
            pass  # crhelper's timer has answered this request
        return None
    if route == "schedule":
        return _result(*run("apply", "schedule", context))
    if route == "followup":
        from selfheal import followup  # noqa: PLC0415

        link, only = followup.parse(event)
        return _result(*run("apply", "followup", context, only=only, link=link))
    if route == "change":
        return on_change(event, context)
    action, only = parse_manual(event)
    return _result(*run(action, "manual", context, only=only))


def _result(report: Report, handed_over: Followup | None) -> dict[str, Any]:
    out = report.to_dict()
    if handed_over is not None:
        out["followup"] = handed_over.to_dict()
    return out


def classify(event: Any) -> str:
    """"cloudformation", "schedule" or "manual"; raises InvalidEvent for anything else."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {type(event).__name__} — {_SHAPES}")
    if any(k in event for k in CFN_FIELDS):
        _check_cfn(event)
        return "cloudformation"
    if event.get("source") == "aws.events":
        if event.get("detail-type") != "Scheduled Event":
            raise InvalidEvent(f"EventBridge event with detail-type {_short(event.get('detail-type'))} is not handled "
                               "— only scheduled events (\"detail-type\": \"Scheduled Event\") are")
        return "schedule"
    from selfheal import change as changes  # noqa: PLC0415
    from selfheal import followup  # noqa: PLC0415

    if changes.is_change_event(event):
        return "change"
    if event.get("source") == followup.SOURCE and event.get("detail-type") == followup.DETAIL_TYPE:
        try:
            followup.parse(event)
        except ValueError as exc:
            raise InvalidEvent(str(exc)) from None
        return "followup"
    if "action" in event:
        return "manual"
    raise InvalidEvent(f"unrecognised event (fields: {', '.join(_keys(event)) or 'none'}) — {_SHAPES}")


_SHAPES = ("send a CloudFormation custom-resource request, an EventBridge scheduled event, a CloudTrail change "
           'event ("detail-type": "AWS API Call via CloudTrail"), or '
           '{"action": "plan" | "apply" | "status", "only": [names]} (see events/)')


def _check_cfn(event: dict[str, Any]) -> None:
    missing = [k for k in CFN_FIELDS if not isinstance(event.get(k), str) or not event[k]]
    if missing:
        raise InvalidEvent(f"CloudFormation custom-resource request without {', '.join(missing)} — CloudFormation "
                           "always sends them; invoke with a complete request (see events/cfn-create.json)")
    if event["RequestType"] not in CFN_REQUEST_TYPES:
        raise InvalidEvent(f"CloudFormation RequestType {_short(event['RequestType'])} is unknown — "
                           f"use one of {', '.join(CFN_REQUEST_TYPES)}")
    url = urlsplit(event["ResponseURL"])
    if not (url.scheme == "https" and url.hostname):
        raise InvalidEvent(f"CloudFormation ResponseURL must be https:// (got a {url.scheme or 'relative'} URL) — "
                           "CloudFormation sends a presigned https:// S3 URL; the local invoke serves one too")


def parse_manual(event: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The action and resource names of a manual event; raises InvalidEvent naming the field and the fix."""
    unknown = [k for k in _keys(event) if k not in MANUAL_FIELDS]
    if unknown:
        raise InvalidEvent(f"manual event: unknown field(s) {', '.join(unknown)} — use only "
                           '{"action": "plan" | "apply" | "status", "only": [names]}')
    action = event.get("action")
    if action not in ACTIONS:
        raise InvalidEvent(f"manual event: action {_short(action)} is not one of {', '.join(ACTIONS)} — "
                           'e.g. {"action": "plan"}')
    only = event.get("only")
    if only is None:
        return action, ()
    if not isinstance(only, list) or not all(isinstance(n, str) and n for n in only):
        raise InvalidEvent('manual event: only must be a list of declared resource names, e.g. ["galerly-users"] '
                           "— or leave it out for the whole estate")
    return action, tuple(only)


# --- change events ----------------------------------------------------------------------------------------------

LEASE_SECONDS = 60.0  # a burst of changes to one resource within this time becomes one run (and one look again)


def on_change(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Heal just the resource a CloudTrail change event names, at once; ignore what is not ours to heal."""
    from selfheal import change as changes  # noqa: PLC0415
    from selfheal import followup  # noqa: PLC0415

    estate = load_estate()  # raises EstateError before any AWS call
    try:
        routed = changes.route(event, estate, os.environ.get("SELFHEAL_ROLE_ARN"))
    except ValueError as exc:
        logger.error("event not handled", extra={"reason": str(exc)})
        raise InvalidEvent(str(exc)) from None
    if isinstance(routed, changes.Ignored):
        logger.debug("change event ignored", extra={"reason": routed.reason})
        return {"ignored": routed.reason}
    config = followup.FollowupConfig.from_environment(dict(os.environ), _function_arn(context))
    if config is not None:
        seconds = float(os.environ.get("SELFHEAL_CHANGE_LEASE_SECONDS") or LEASE_SECONDS)
        held = followup.lease(_clients(), config, routed.resources, seconds)
        if held.already:
            logger.info("change coalesced: a run for these resources is under way",
                        extra={"change": routed.to_dict(), "lease": held.name})
            return {"coalesced": held.name, "change": routed.to_dict()}
        if held.problem:
            logger.warning("no lease for this change: bursts are not coalesced", extra={"problem": held.problem})
    report, handed_over = run("apply", "change", context, only=routed.resources, guard=False, change=routed)
    return {**_result(report, handed_over), "change": routed.to_dict()}


# --- CloudFormation ---------------------------------------------------------------------------------------------


Answer = tuple[str, str, str, dict[str, Any]]  # (PhysicalResourceId, "SUCCESS" | "FAILED", Reason, Data)


def deploy(event: dict[str, Any], context: Any) -> Answer:
    """Create/Update: reconcile now. FAILED unless every declared resource ends healthy (the deploy fails loudly),
    except during the stack's own rollback, which must be let through."""
    try:
        report, handed_over = run("apply", "deploy", context, guard=False)
    except EstateError as exc:
        logger.error("invalid estate", extra={"reason": str(exc)})
        return _fail(f"invalid estate: {exc}")
    except Exception as exc:  # noqa: BLE001 - any failure still gets exactly one FAILED response
        logger.exception("the run failed")
        return _fail(f"selfheal failed: {type(exc).__name__}: {exc}")
    data: dict[str, Any] = dict(report.summary)
    if handed_over is not None and handed_over.at is not None:
        data["followup_at"] = handed_over.at.isoformat(timespec="seconds")
    if not report.failed:
        # Healthy, or only AWS's slow work left (a restore, an index build) that a follow-up run finishes: a slow
        # restore never fails a deploy, and on a Create never rolls the stack (and this function) back.
        return PHYSICAL_ID, "SUCCESS", "", data
    if _rolling_back(event.get("StackId", "")):
        # Answering FAILED to the rollback's Update would leave the stack UPDATE_ROLLBACK_FAILED: the estate is
        # reported (log lines, metrics, alarms) and the rollback may finish.
        logger.error("stack is rolling back: answering SUCCESS", extra={"reason": failure_reason(report)})
        return PHYSICAL_ID, "SUCCESS", "", data
    return _fail(failure_reason(report), data)


def _rolling_back(stack_id: str) -> bool:
    """Is this request part of the stack's rollback? (Its status is the only place CloudFormation says so.)"""
    try:
        stacks = _clients().client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"]
    except Exception as exc:  # noqa: BLE001 - unknown means "not rolling back": the deploy fails loudly as it should
        logger.warning("could not read the stack's status", extra={"error": str(exc)})
        return False
    return bool(stacks) and str(stacks[0].get("StackStatus", "")).endswith("ROLLBACK_IN_PROGRESS")


def delete(event: dict[str, Any], context: Any) -> str:
    """Delete: nothing is deleted — the estate outlives the stack. Echo the id CloudFormation knows (it may be from a
    failed Create)."""
    logger.info("Delete: the estate is kept; nothing is deleted")
    return event.get("PhysicalResourceId") or PHYSICAL_ID


def _fail(reason: str, data: dict[str, Any] | None = None) -> Answer:
    return PHYSICAL_ID, "FAILED", clip(reason, REASON_LIMIT), data or {}


def failure_reason(report: Report) -> str:
    """Why an unhealthy run failed, under 256 characters, naming the resources."""
    return report.failure_reason(REASON_LIMIT)


# --- one run ----------------------------------------------------------------------------------------------------


def run(
    action: str, trigger: str, context: Any, only: tuple[str, ...] = (), guard: bool | None = None, link: int = 0,
    change: Change | None = None,
) -> tuple[Report, Followup | None]:
    """Load the estate, run the engine, hand unfinished work to a follow-up run, log one line per resource plus a
    summary, record the run's metrics, and tell people when there is something to tell. `link`: this run's place in
    a chain of follow-ups (0: not a follow-up); `change`: the change event that caused the run."""
    estate = load_estate()  # raises EstateError before any AWS call
    options = Options(trigger=trigger, only=only, deadline=deadline(context), guard=guard, wait_for_restores=False,
                      restore_role=os.environ.get("SELFHEAL_BACKUP_RESTORE_ROLE_ARN") or None)
    clients = _clients()
    report = getattr(Engine(estate, clients, options), action)()
    handed_over = None
    if action == "apply" and report.unfinished and not report.guard_tripped:
        from selfheal import followup  # noqa: PLC0415

        config = followup.FollowupConfig.from_environment(dict(os.environ), _function_arn(context))
        if config is None:
            handed_over = followup.Followup(link + 1, problem="follow-ups are not set up (SELFHEAL_FOLLOWUP_ROLE_ARN):"
                                                             " the nightly run carries on")
        else:
            handed_over = followup.schedule(clients, config, link + 1, report, only=only if change else ())
    log_report(report, handed_over)
    record_metrics(report, getattr(context, "aws_request_id", None), handed_over)
    topic = os.environ.get("SELFHEAL_TOPIC_ARN")
    if topic and action == "apply":
        from selfheal import notify  # noqa: PLC0415

        message = notify.compose(report, change, handed_over)
        if message is not None:
            notify.publish(clients, topic, message)
    bus = os.environ.get("SELFHEAL_CENTRAL_EVENT_BUS_ARN")
    if bus and action == "apply":  # a fleet's central bus: one event per run that may heal; best effort (fleet.py)
        left = context.get_remaining_time_in_millis() / 1000 if context is not None else CENTRAL_EVENT_MIN_S
        if left < CENTRAL_EVENT_MIN_S:  # a slow bus must not push a deploy past crhelper's timeout answer
            problem: str | None = f"not sent: {left:.1f} s left in the invocation"
            logger.error("the run event was not sent", extra={"reason": problem})
        else:
            from selfheal import fleet  # noqa: PLC0415

            problem = fleet.tell_central(clients, bus, report, handed_over, _function_arn(context))
        metrics.add_metric(name="central_event_failed", unit=MetricUnit.Count, value=int(problem is not None))
    return report, handed_over


def _function_arn(context: Any) -> str | None:
    return os.environ.get("SELFHEAL_FUNCTION_ARN") or getattr(context, "invoked_function_arn", None)


_CLIENTS: dict[tuple[str | None, Any], Clients] = {}


def _clients() -> Clients:
    """boto3 clients kept across warm invocations: building them again would re-read the service models each run."""
    key = (os.environ.get("AWS_ENDPOINT_URL"), Clients)
    if key not in _CLIENTS:
        _CLIENTS[key] = Clients()
    return _CLIENTS[key]


def deadline(context: Any) -> float | None:
    """A time.monotonic() deadline a safety margin before the Lambda times out (None without a context)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    left = remaining() / 1000.0
    margin = min(MARGIN_MAX_S, max(MARGIN_MIN_S, left * MARGIN_FRACTION))
    return time.monotonic() + left - margin


def log_report(report: Report, handed_over: Followup | None = None) -> None:
    for r in report.results:
        level = logging.ERROR if r.outcome in (Outcome.ERROR, Outcome.CONFLICT) else logging.INFO
        logger.log(level, f"{r.kind} {r.name}: {r.outcome.value}", extra={"resource": {
            "kind": r.kind, "name": r.name, "outcome": r.outcome.value, "changes": [c.to_dict() for c in r.changes],
            "reason": r.reason, "duration_s": round(r.duration_s, 3)}})
    logger.log(logging.ERROR if report.failed else logging.INFO, f"{report.action} run: {_counts(report)}", extra={
        "summary": report.summary, "trigger": report.trigger, "action": report.action,
        "guard": {"message": report.guard, "tripped": report.guard_tripped} if report.guard else None,
        "exit_code": report.exit_code, "duration_s": round(report.duration_s, 3), "api_calls": report.api_calls})
    if handed_over is not None:
        level = logging.ERROR if handed_over.problem else logging.INFO
        logger.log(level, "follow-up " + ("not scheduled" if handed_over.problem else "scheduled"),
                   extra={"followup": handed_over.to_dict(),
                          "unfinished": [f"{r.kind} {r.name}: {r.outcome.value}" for r in report.unfinished]})


def record_metrics(report: Report, request_id: str | None = None,
                   handed_over: Followup | None = None) -> None:
    """One EMF blob per run (flushed by @metrics.log_metrics); the request id rides along as metadata."""
    s = report.summary
    values = {
        "checked": s["checked"],
        "healthy": s["ok"] + s["healed"],
        "created": s["created"],
        "restored": s["restored"],
        "repaired": s["repaired"],
        "healed": s["healed"],
        "conflicts": s["conflict"],
        "errors": s["error"],
        "deferred": s["deferred"],
        "restoring": s["restoring"],
        "in_progress": s["in_progress"],
        "guard_tripped": int(report.guard_tripped),  # a blocked scheduled run must alarm too
        # unfinished work that no follow-up will pick up (chain ended, or scheduling failed): alarms
        "followup_failed": int(bool(handed_over and handed_over.problem)),
    }
    metrics.add_dimension(name="trigger", value=report.trigger)
    for name, value in values.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if request_id:
        metrics.add_metadata(key="request_id", value=request_id)


def _counts(report: Report) -> str:
    return ", ".join(f"{k} {v}" for k, v in report.summary.items() if v) or "nothing declared"


def _keys(event: Any) -> list[str]:
    return sorted(str(k)[:40] for k in event)[:20] if isinstance(event, dict) else []


def _short(value: Any) -> str:
    return clip(repr(value), 60)
