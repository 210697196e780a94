"""What a scheduled drill tells: per resource an EMF metric of its restore time (RestoreMinutes, dimension resource)
and whether it exceeded its declared rto, the run's counts, and one message on the alarm topic per drill run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..model import clip
from ..notify import Message, publish

if TYPE_CHECKING:
    from ..aws import Clients
    from ..report import Report

# (name, unit, value, dimensions): one EMF metric with its own dimensions (Powertools' single_metric writes it)
OneMetric = Callable[[str, str, float, dict[str, str]], None]
NAMESPACE = "Selfheal"


def metrics(report: Report, emit: OneMetric, per_resource: bool = True, totals: bool = True) -> None:
    """RestoreMinutes and rto_exceeded per resource (a restore that happened), then the drill's counts. A drill that
    hands over to its next invocation sends each resource's as it finishes, and the counts once, at the end."""
    failed = exceeded = 0
    for result in report.results:
        r: Any = result
        failed += int(not r.verified)
        exceeded += int(r.rto_exceeded)
        if r.restore_seconds is None or not per_resource:
            continue
        where = {"service": "selfheal", "resource": r.name, "kind": r.kind}
        emit("RestoreMinutes", "None", round(r.restore_seconds / 60, 3), where)
        emit("rto_exceeded", "Count", int(r.rto_exceeded), where)
    if not totals:
        return
    counts = {"service": "selfheal", "trigger": "drill"}
    emit("drills", "Count", len(report.results), counts)
    emit("drills_failed", "Count", failed, counts)
    emit("drills_rto_exceeded", "Count", exceeded, counts)


def compose(report: Report) -> Message:
    """One message for the whole drill: a subject with the counts, a line per resource."""
    results: list[Any] = list(report.results)
    verified = sum(1 for r in results if r.verified)
    late = [r for r in results if r.rto_exceeded]
    subject = f"selfheal drill: {verified}/{len(results)} verified"
    if late:
        subject += f", {len(late)} over rto"
    lines = [f"selfheal drill (trigger: {report.trigger}) — {verified} of {len(results)} verified, "
             f"{report.duration_s:.0f}s"]
    for r in results:
        restore = "no restore" if r.restore_seconds is None else f"restored in {r.restore_seconds / 60:.1f} min"
        age = "" if r.copy_age_seconds is None else f", copy {r.copy_age_seconds / 3600:.1f} h old"
        rto = "" if r.rto_seconds is None else f", rto {r.rto_seconds / 60:.0f} min"
        rto += " EXCEEDED" if r.rto_exceeded else ""
        lines += ["", f"{r.kind} {r.name}: {'verified' if r.verified else 'NOT verified'} — {r.copy}, {restore}{age}"
                  f"{rto}", f"  {clip(r.reason, 400)}"]
        lines += [f"  note: {clip(n, 300)}" for n in r.notes]
    document = {"version": 1, "action": "drill", "trigger": report.trigger,
                "resources": [r.to_dict() for r in results], "duration_s": round(report.duration_s, 3)}
    attributes = {"trigger": {"DataType": "String", "StringValue": report.trigger},
                  "verified": {"DataType": "Number", "StringValue": str(verified)},
                  "failed": {"DataType": "Number", "StringValue": str(len(results) - verified)},
                  "rto_exceeded": {"DataType": "Number", "StringValue": str(len(late))}}
    return Message(subject, "\n".join(lines), document, attributes)


def problem_message(problem: str) -> Message:
    """A drill that could not start (bad input): said once, so a schedule that drills nothing does not go unseen."""
    return Message("selfheal drill: not run", f"selfheal drill did not run: {problem}",
                   {"version": 1, "action": "drill", "problem": problem, "resources": []},
                   {"failed": {"DataType": "Number", "StringValue": "1"}})


def tell(clients: Clients, topic_arn: str | None, message: Message) -> str | None:
    """Publish it to the alarm topic, if there is one (a refused publish is logged by notify.publish)."""
    return None if topic_arn is None else publish(clients, topic_arn, message)
