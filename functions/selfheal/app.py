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
* Drill ``{"action": "drill", "only": [names]}`` — the scheduled restore drill (selfheal/drill), sent by the drill
  function's schedule (template.yaml: DrillSchedule, its own role): each copy restored under a scratch name, verified,
  removed; a RestoreMinutes metric per resource, and one message on the alarm topic.
* Follow-up ``{"source": "selfheal", "detail-type": "selfheal follow-up", "detail": {"link": n}}`` — sent by the
  one-time schedule an earlier run left for work AWS had not finished (a restore, an index build): reconcile again
  (trigger "followup", guard on); with ``"only": [names]`` just those (a change's second look).
* Change — a CloudTrail record of an API call that can break a declared resource, as EventBridge delivers it
  (``"detail-type": "AWS API Call via CloudTrail"``): reconcile only the resources it names (selfheal/change.py),
  trigger "change". The function's own calls, undeclared resources and failed calls are ignored with one debug line
  and no AWS call. A burst for one resource is coalesced: the first event takes a lease (a one-time schedule that
  looks again a minute later) and runs; the others find it and stop.

Every run that healed, failed, was stopped by the guard or left work in progress publishes one message to the alarm
topic (selfheal/notify.py): what was found, who changed it, what was done, what is still in progress. With
SELFHEAL_CENTRAL_EVENT_BUS_ARN set, every apply run also puts one event on a fleet's central bus (selfheal/fleet.py).

Restores are started, never waited for (they take 20 minutes to hours): a run that ends with work in progress
schedules one follow-up run (selfheal/followup.py), and a deploy answers SUCCESS with the counts — only errors and
conflicts fail it. What follows a run (the follow-up, log lines, metrics, the message, the central event) is
selfheal/sinks, called in one place.

Events are parsed into typed events first (selfheal/events.py: Powertools' CloudFormationCustomResourceEvent, imported
for a CloudFormation request only, and EventBridge's envelope). Anything else raises `InvalidEvent` (the invocation
fails with a message naming the problem and the fix) before any AWS call; a CloudFormation-looking event that cannot be
answered is never sent anywhere.
"""

from __future__ import annotations

# ruff: noqa: E402 - the collector is paused (in Lambda) before the imports below, which are most of a cold start
import gc
import os

from selfheal import classcode

# A cold start in Lambda: the collector would traverse the imported modules' objects again and again (~80 times)
# and find nothing to free. They live as long as the container, so they are frozen once imported (end of this file).
_COLD_START = "AWS_LAMBDA_FUNCTION_NAME" in os.environ and gc.isenabled()
if _COLD_START:
    gc.disable()
classcode.install()  # before the package's classes are defined: their methods compiled by `make build`, when built

import importlib.util
import logging
import re
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from selfheal import sinks
from selfheal.aws import Clients
from selfheal.engine import Engine, Options
from selfheal.events import (
    ChangeEvent,
    DeletionEvent,
    FollowupEvent,
    InvalidEvent,
    ManualEvent,
    ScheduledEvent,
    is_cloudformation,
    keys,
    parse,
)
from selfheal.loader import load_estate
from selfheal.model import Action, Trigger, clip
from selfheal.report import Report
from selfheal.spec import EstateError

# Imported where a run needs them, not by every cold start: crhelper and Powertools' data classes (CloudFormation
# requests), change (change events), followup (follow-up events, unfinished work), notify (a message to send), fleet
# (a central bus).
if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from crhelper import CfnResource

    from selfheal.change import Change
    from selfheal.followup import Followup
    from selfheal.spec import Estate

__all__ = ["EstateError", "InvalidEvent", "lambda_handler"]

PHYSICAL_ID = "selfheal-estate"  # constant: a new id on Update would make CloudFormation send a Delete for the old one
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

Handler = Callable[[Any, "LambdaContext"], "dict[str, Any] | None"]


def _traced(handler: Handler) -> Handler:
    return tracer.capture_lambda_handler(handler, capture_response=False) if tracer else handler


# crhelper logs the event and the presigned ResponseURL at DEBUG: keep its loggers at INFO or above, whatever LOG_LEVEL.
_CRHELPER_LEVEL = logging.getLevelName(max(logger.log_level, logging.INFO))


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
    from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent  # noqa: PLC0415
    from crhelper import CfnResource  # noqa: PLC0415

    class _CfnResource(CfnResource):
        """crhelper, minus one of its rules: a failure to build its polling-mode clients (this function never polls)
        must not turn every answer into FAILED — a Delete that cannot pass leaves the stack undeletable."""

        def init_failure(self, error: Exception) -> None:  # crhelper's public hook for a failed start-up
            logger.warning("crhelper could not build its polling clients; they are not used here",
                           extra={"error": f"{type(error).__name__}: {error}"})

    helper = _CfnResource(json_logging=False, log_level=_CRHELPER_LEVEL, sleep_on_delete=0, polling_interval=1)

    def create_or_update(event: dict[str, Any], context: LambdaContext) -> str:
        physical_id, status, reason, data = deploy(CloudFormationCustomResourceEvent(event), context)
        _answered_by_timer(context)
        helper.Data.update(data)
        if status == "FAILED":
            helper.Status, helper.Reason = status, reason
        return physical_id

    def on_delete(event: dict[str, Any], context: LambdaContext) -> str:
        return delete(CloudFormationCustomResourceEvent(event))

    helper.create(create_or_update)
    helper.update(create_or_update)
    helper.delete(on_delete)
    return helper


def _answered_by_timer(context: LambdaContext) -> None:
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
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any] | None:
    """Route one invocation. CloudFormation is answered through its ResponseURL (returns None); the others return
    the report as a dict. Raises InvalidEvent for an event it does not handle."""
    try:
        parsed = parse(event)
        if is_cloudformation(parsed):
            _check_cfn_origin(event, _home(context))
    except InvalidEvent as exc:
        logger.error("event not handled", extra={"reason": str(exc), "event_keys": keys(event)})
        raise
    match parsed:
        case ScheduledEvent():
            return _result(*run("apply", "schedule", context))
        case FollowupEvent():
            return _result(*run("apply", "followup", context, only=parsed.only, link=parsed.link))
        case ChangeEvent():
            return on_change(parsed, context)
        case DeletionEvent():
            return on_deletion(parsed)
        case ManualEvent() if parsed.action == "drill":
            return on_drill(parsed, context)
        case ManualEvent():
            return _result(*run(parsed.action, "manual", context, only=parsed.only))
        case _:  # the one other kind, a CloudFormation request (a class imported only for one: selfheal/events.py)
            on_cloudformation(parsed, context)
            return None


def _result(report: Report, handed_over: Followup | None) -> dict[str, Any]:
    out = report.to_dict()
    if handed_over is not None:
        out["followup"] = handed_over.to_dict()
    return out


# CloudFormation's presigned response URL: its bucket cloudformation-custom-resource-response-<region without dashes>,
# virtual-hosted at s3, s3-<region> or s3.<region>, amazonaws.com (.com.cn in China).
_CFN_RESPONSE_HOST = re.compile(
    r"^cloudformation-custom-resource-response-(?P<bucket>[a-z0-9]+)\.s3(?:[.-](?P<region>[a-z0-9-]+))?"
    r"\.amazonaws\.com(?P<cn>\.cn)?$")
LOCAL_RESPONSE_HOST = "SELFHEAL_LOCAL_RESPONSE_HOST"  # host:port of a local stand-in for it (devtools/invoke.py)


def _check_cfn_origin(event: dict[str, Any], home: tuple[str, str] | None) -> None:
    """A CloudFormation request is answered only at CloudFormation's own S3 bucket of this region, and only for a
    stack of this function's account and region: a hand-made request cannot make the function PUT its answer (the
    estate's names, counts and failures) anywhere else."""
    if home is None:
        return
    account, region = home
    url = urlsplit(event["ResponseURL"])
    host, local = (url.hostname or "").lower(), os.environ.get(LOCAL_RESPONSE_HOST)
    match = _CFN_RESPONSE_HOST.match(host)
    ours = match is not None and match["bucket"] == region.replace("-", "") and match["region"] in (None, region) \
        and bool(match["cn"]) == region.startswith("cn-")
    if not ours and not (local and url.netloc == local):
        raise InvalidEvent(f"CloudFormation ResponseURL host {clip(repr(host), 60)} is not CloudFormation's response "
                           f"bucket in {region} (cloudformation-custom-resource-response-{region.replace('-', '')}"
                           ".s3....amazonaws.com): only CloudFormation's own requests are answered")
    parts = event["StackId"].split(":")
    if len(parts) < 6 or parts[2] != "cloudformation" or (parts[4], parts[3]) != (account, region):
        raise InvalidEvent(f"CloudFormation StackId {clip(repr(event['StackId']), 60)} is not a stack of this "
                           f"function's account {account} and region {region}: only its own stack's requests are "
                           "answered")


# --- change events ----------------------------------------------------------------------------------------------

LEASE_SECONDS = 60.0  # a burst of changes to one resource within this time becomes one run (and one look again)


def on_deletion(event: DeletionEvent) -> dict[str, Any]:
    """Count one S3 `Object Deleted` event in its bucket's window; the one that passes the declared threshold tells
    the alarm topic (selfheal/massdelete.py). Never a recovery: a deletion may be intended."""
    from selfheal import massdelete  # noqa: PLC0415

    table = os.environ.get("SELFHEAL_DELETIONS_TABLE")
    if not table:
        logger.warning("deletion not counted: SELFHEAL_DELETIONS_TABLE is not set")
        return {"ignored": "deletions are not counted here (SELFHEAL_DELETIONS_TABLE is not set)"}
    counted = massdelete.count(_clients(), _estate_for_counting(), table, os.environ.get("SELFHEAL_TOPIC_ARN"),
                               event.raw_event)
    logger.debug("deletion counted", extra=counted)
    return counted


_COUNTING: dict[tuple[Any, ...], Estate] = {}


def _estate_for_counting() -> Estate:
    """The estate, read once per warm container while its file and the SELFHEAL_* environment stay as they are: a mass
    delete is one invocation per deleted object, and reading the estate would be most of each."""
    path = os.environ.get("SELFHEAL_ESTATE")
    try:
        stamp = os.stat(path).st_mtime_ns if path else None
    except OSError:
        stamp = None  # load_estate says what is wrong with it
    key = (path, stamp, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SELFHEAL_"))))
    if key not in _COUNTING:
        _COUNTING.clear()
        _COUNTING[key] = load_estate()
    return _COUNTING[key]


def on_change(event: ChangeEvent, context: LambdaContext) -> dict[str, Any]:
    """Heal just the resource a CloudTrail change event names, at once; ignore what is not ours to heal."""
    from selfheal import change as changes  # noqa: PLC0415
    from selfheal import followup  # noqa: PLC0415

    estate = load_estate()  # raises EstateError before any AWS call
    try:
        routed = changes.route(event.raw_event, estate, os.environ.get("SELFHEAL_ROLE_ARN"), _home(context))
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


# --- restore drills ---------------------------------------------------------------------------------------------


DRILL_LINKS = 12  # a drill hands over to itself at most this often: 12 invocations of 15 minutes, 3 hours of restores


def on_drill(event: ManualEvent, context: LambdaContext | None) -> dict[str, Any]:
    """Drill the estate's copies (the drill function, under its own role). A restore AWS has not finished when the
    invocation must end is handed to the function's next invocation (it invokes itself, asynchronously, with the
    restores still running and the drills done); the last invocation tells: a RestoreMinutes metric per resource as
    each finishes, the counts and one message on the alarm topic for the whole drill. A drill that cannot start is one
    error line, one message and a drills_failed metric: a schedule that drills nothing must not go unseen."""
    import json  # noqa: PLC0415

    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # noqa: PLC0415

    from selfheal.drill import DrillProblem, DrillResult, resume_drill, run_drill  # noqa: PLC0415
    from selfheal.drill import publish as told  # noqa: PLC0415

    def emit(name: str, unit: str, value: float, dimensions: dict[str, str]) -> None:
        with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=told.NAMESPACE,
                           default_dimensions=dimensions) as metric:
            metric.add_metadata(key="request_id", value=context.aws_request_id if context is not None else "")

    clients = _clients()
    home = _home(context)
    if home is not None:
        clients.know_account(home[0])
    topic = os.environ.get("SELFHEAL_TOPIC_ARN") or None
    ends = deadline(context)
    try:
        estate = load_estate()
        if event.resume:
            report = resume_drill(estate, clients, event.resume, trigger="manual", deadline=ends)
        else:
            report = run_drill(estate, clients, only=event.only, trigger="manual", deadline=ends,
                               restore_role=os.environ.get("SELFHEAL_BACKUP_RESTORE_ROLE_ARN") or None)
    except DrillProblem as exc:
        logger.error("drill not run", extra={"reason": str(exc)})
        emit("drills_failed", "Count", 1, {"service": "selfheal", "trigger": "drill"})
        told.tell(clients, topic, told.problem_message(str(exc)))
        return {"action": "drill", "trigger": "manual", "error": str(exc)}
    for result in report.results:
        say = logger.info if result.outcome.value in ("ok", "restoring") else logger.error
        say(f"drill {result.kind} {result.name}: {result.outcome.value}", extra={"drill": result.to_dict()})
    finished: list[Any] = [r for r in report.results if getattr(r, "resume", None) is None]
    told.metrics(report.__class__("drill", report.trigger, finished), emit, totals=False)
    pending = [r.resume for r in report.results if isinstance(r, DrillResult) and r.resume is not None]
    done = [*event.done, *(r.to_dict() for r in finished)]
    out = report.to_dict()
    arn = _function_arn(context)
    if pending and arn and event.link < DRILL_LINKS:
        follow = {"action": "drill", "resume": pending, "done": done, "link": event.link + 1}
        try:
            clients.client("lambda").invoke(FunctionName=arn, InvocationType="Event", Payload=json.dumps(follow))
        except Exception as exc:  # noqa: BLE001 - told below: the drill ends here, its restores left to AWS
            logger.error("drill not handed over", extra={"error": f"{type(exc).__name__}: {exc}"})
        else:
            logger.info("drill handed over", extra={"restoring": [p["scratch"] for p in pending],
                                                    "link": event.link + 1})
            return {**out, "handed_over": follow}
    whole = report.__class__("drill", report.trigger, [*(DrillResult.from_dict(d) for d in event.done),
                                                        *report.results])
    whole.duration_s = report.duration_s
    told.metrics(whole, emit, per_resource=False)
    told.tell(clients, topic, told.compose(whole))
    return out


# --- CloudFormation ---------------------------------------------------------------------------------------------


Answer = tuple[str, str, str, dict[str, Any]]  # (PhysicalResourceId, "SUCCESS" | "FAILED", Reason, Data)


def on_cloudformation(request: CloudFormationCustomResourceEvent, context: LambdaContext) -> None:
    """Answer one custom-resource request through crhelper: exactly one response, sent to its ResponseURL."""
    logger.info("CloudFormation request", extra={"request_type": request.request_type, "stack_id": request.stack_id,
                                                 "logical_resource_id": request.logical_resource_id})
    try:
        _custom_resource()(request.raw_event, context)
    except _Late:
        pass  # crhelper's timer has answered this request


def deploy(request: CloudFormationCustomResourceEvent, context: LambdaContext) -> Answer:
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
    if _rolling_back(request.stack_id):
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


def delete(request: CloudFormationCustomResourceEvent) -> str:
    """Delete: nothing is deleted — the estate outlives the stack. Echo the id CloudFormation knows (it may be from a
    failed Create)."""
    logger.info("Delete: the estate is kept; nothing is deleted")
    return request.physical_resource_id or PHYSICAL_ID


def _fail(reason: str, data: dict[str, Any] | None = None) -> Answer:
    return PHYSICAL_ID, "FAILED", clip(reason, REASON_LIMIT), data or {}


def failure_reason(report: Report) -> str:
    """Why an unhealthy run failed, under 256 characters, naming the resources."""
    return report.failure_reason(REASON_LIMIT)


# --- one run ----------------------------------------------------------------------------------------------------


def run(
    action: Action, trigger: Trigger, context: LambdaContext | None, only: tuple[str, ...] = (),
    guard: bool | None = None, link: int = 0, change: Change | None = None,
) -> tuple[Report, Followup | None]:
    """Load the estate, run the engine, then the sinks (selfheal/sinks): unfinished work handed to a follow-up, log
    lines, metrics, the message, the central event. `link`: this run's place in a chain of follow-ups (0: not a
    follow-up); `change`: the change event that caused the run."""
    estate = load_estate()  # raises EstateError before any AWS call
    options = Options(trigger=trigger, only=only, deadline=deadline(context), guard=guard, wait_for_restores=False,
                      restore_role=os.environ.get("SELFHEAL_BACKUP_RESTORE_ROLE_ARN") or None)
    clients = _clients()
    home = _home(context)
    if home is not None:  # the stack's account, from the function's own ARN: every S3 call's ExpectedBucketOwner
        clients.know_account(home[0])
    report = Engine(estate, clients, options).run(action)
    return report, sinks.after_run(report, _invocation(context), link=link, only=only, change=change)


def _invocation(context: LambdaContext | None) -> sinks.Invocation:
    """What the sinks need to know about this invocation, read from its context and the function's environment."""
    return sinks.Invocation(
        clients=_clients(),
        metrics=metrics,
        environ=dict(os.environ),
        function_arn=_function_arn(context),
        request_id=context.aws_request_id if context is not None else None,
        seconds_left=(lambda: context.get_remaining_time_in_millis() / 1000) if context is not None else None,
    )


def _function_arn(context: LambdaContext | None) -> str | None:
    return os.environ.get("SELFHEAL_FUNCTION_ARN") or (context.invoked_function_arn if context is not None else None)


def _home(context: Any) -> tuple[str, str] | None:
    """The stack's (account, region): the function's own ARN says both (arn:aws:lambda:<region>:<account>:...)."""
    parts = (_function_arn(context) or "").split(":")
    return (parts[4], parts[3]) if len(parts) > 5 and parts[4] and parts[3] else None


_CLIENTS: dict[tuple[str | None, Any], Clients] = {}


def _clients() -> Clients:
    """boto3 clients kept across warm invocations: building them again would re-read the service models each run."""
    key = (os.environ.get("AWS_ENDPOINT_URL"), Clients)
    if key not in _CLIENTS:
        _CLIENTS[key] = Clients()
    return _CLIENTS[key]


def deadline(context: LambdaContext | None) -> float | None:
    """A time.monotonic() deadline a safety margin before the Lambda times out (None without a context)."""
    if context is None:
        return None
    left = context.get_remaining_time_in_millis() / 1000.0
    margin = min(MARGIN_MAX_S, max(MARGIN_MIN_S, left * MARGIN_FRACTION))
    return time.monotonic() + left - margin


if _COLD_START:
    gc.freeze()  # never garbage, never traversed again: the collections of every run are the run's own objects
    gc.enable()
