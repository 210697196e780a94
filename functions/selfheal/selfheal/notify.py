"""One message per run that did something people must know of: healed, failed, stopped by the guard, or left work in
progress. A healthy run says nothing.

The message names what was found (from -> to), who caused it when the run came from a change event (CloudTrail's
caller, source address and time), what was done, and what is still in progress. It is published to the alarm topic
as SNS `MessageStructure: json`: plain text for e-mail (and the default), the same facts as JSON for SQS and Lambda
subscribers, and Amazon Q Developer in chat applications' (formerly AWS Chatbot) custom-notification format for its
HTTPS subscription, so Slack or Chime shows a title and a readable body. Message attributes carry the counts, for
subscription filter policies.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .aws import AWS_ERRORS, explain
from .change import Change
from .followup import Followup
from .kinds import Kind, kind_named
from .model import FAILED, FINDING, HEALED, OBJECTIVE, UNFINISHED, Outcome, ResourceResult, clip
from .report import Report

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters, no line break
BODY_LIMIT = 60_000  # well inside SNS's 256 KB for the three renderings together
CHANGES_SHOWN = 12


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    document: dict[str, Any]  # the same facts, for machines
    attributes: dict[str, dict[str, str]]


def worth_telling(report: Report) -> bool:
    return bool(report.count(*HEALED, *FAILED, *UNFINISHED) or report.guard_tripped)


def compose(report: Report, change: Change | None = None, handed_over: Followup | None = None) -> Message | None:
    """The run's message, or None for a run with nothing to tell (everything was already in order)."""
    if not worth_telling(report):
        return None
    told = [r for r in report.results if r.outcome is not Outcome.OK]
    parts = [_headline(r) for r in told]
    if report.guard_tripped:
        parts.insert(0, "blast-radius guard stopped the run")
    subject = _ascii("selfheal: " + ", ".join(parts))
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3].rstrip(", ") + "..."
    lines = [f"selfheal {report.action} run (trigger: {report.trigger}) — {_counts(report)}"]
    if change is not None:  # CloudTrail's fields, one line each whatever a caller put in them
        said = [_one_line(v) for v in (change.event_name, change.caller, change.source_ip, change.time)]
        lines.append("Caused by: {} by {}, from {}, at {}".format(*said))
    if report.guard_tripped and report.guard:
        lines.append(f"Stopped: {report.guard}")
    for r in told:
        lines += ["", f"{r.kind} {r.name}: {r.outcome.value}"]
        shown = r.changes[:CHANGES_SHOWN]
        lines += [f"  found {c.path}: {clip(c.old, 160)}, now {clip(c.new, 160)}" for c in shown]
        if len(r.changes) > len(shown):
            lines.append(f"  ... and {len(r.changes) - len(shown)} more change(s)")
        if r.reason:
            label = {Outcome.RESTORING: "in progress", Outcome.IN_PROGRESS: "in progress",
                     Outcome.DEFERRED: "not done yet", Outcome.ERROR: "failed", Outcome.CONFLICT: "not changed"}
            lines.append(f"  {label.get(r.outcome, 'done')}: {r.reason}")
        lines += [f"  {n}" for n in r.notes if n.startswith(OBJECTIVE)]  # what the objective asked of this run
    if handed_over is not None:
        lines += ["", (f"Follow-up: scheduled for {handed_over.at.isoformat(timespec='seconds')}"
                       if handed_over.at else f"Follow-up: {handed_over.problem or 'already scheduled'}")]
    text = "\n".join(lines)
    if len(text) > BODY_LIMIT:
        text = text[: BODY_LIMIT - 40] + "\n... (cut; the run's log has every line)"
    document: dict[str, Any] = {
        "version": 1, "action": report.action, "trigger": report.trigger, "summary": report.summary,
        "resources": [r.to_dict() for r in told],
        "guard": {"message": report.guard, "tripped": report.guard_tripped} if report.guard else None,
        "change": change.to_dict() if change else None,
        "followup": handed_over.to_dict() if handed_over else None,
    }
    s = report.summary
    attributes = {"trigger": {"DataType": "String", "StringValue": report.trigger},
                  **{k: {"DataType": "Number", "StringValue": str(s[k])}
                     for k in ("healed", "failed", "unfinished", "restored", "restoring", "conflict", "error")},
                  "guard_tripped": {"DataType": "Number", "StringValue": str(int(report.guard_tripped))}}
    return Message(subject, text, document, attributes)


def publish(clients: Any, topic_arn: str, message: Message) -> str | None:
    """Send it; a failure is logged (the run's result stands, and the alarms still fire). Returns a problem or None."""
    document = json.dumps(message.document, default=str)
    if len(document) > BODY_LIMIT:  # the resources' full changes are the bulk: the run's log keeps them
        document = json.dumps({**message.document, "resources": [
            {k: r.get(k) for k in ("kind", "name", "outcome", "reason")} for r in message.document["resources"]],
            "cut": "changes left out (size); the run's log has them"}, default=str)
    # Chat renders markdown: nothing here is meant as markup, and CloudTrail's fields (the caller, its address) are
    # written by whoever made the call, so every markup character is escaped rather than rendered.
    chat = {"version": "1.0", "source": "custom",
            "content": {"textType": "client-markdown", "title": markdown_literal(message.subject),
                        "description": markdown_literal(message.text[:3800])}}
    body = {"default": message.text, "email": message.text, "sqs": document, "lambda": document,
            "https": json.dumps(chat)}
    try:
        clients.client("sns").publish(TopicArn=topic_arn, Subject=message.subject, MessageStructure="json",
                                      Message=json.dumps(body), MessageAttributes=message.attributes)
    except AWS_ERRORS as exc:
        problem = explain(exc, "sns:Publish", f"topic {topic_arn}")
        log.error("the run's message was not published: %s", problem)
        return problem
    return None


def _headline(r: ResourceResult) -> str:
    kind = _kind(r.kind)
    if r.outcome is Outcome.RESTORED:
        return f"restored {r.name}" + (kind.facts(r) if kind else "")
    if r.outcome is Outcome.REPAIRED:
        labels = kind.aspect_labels if kind else {}
        found = sorted({_aspect(c.path, labels) for c in r.changes if str(c.old).startswith(FINDING)})
        fixed = sorted({_aspect(c.path, labels) for c in r.changes if not str(c.old).startswith(FINDING)})
        parts = [f"removed a finding from {', '.join(found)}"] if found else []
        if fixed:
            parts.append(f"repaired {', '.join(fixed[:3])}{'...' if len(fixed) > 3 else ''}")
        return f"{', '.join(parts)} on {r.name}"
    if r.outcome is Outcome.CONFLICT and FINDING in r.reason:
        return f"FINDING on {r.name}"
    word = {Outcome.CREATED: "created", Outcome.RESTORING: "restoring", Outcome.IN_PROGRESS: "still building",
            Outcome.DEFERRED: "not finished", Outcome.ERROR: "FAILED", Outcome.CONFLICT: "conflict on"}
    return f"{word.get(r.outcome, r.outcome.value)} {r.name}"


def _kind(name: str) -> Kind[Any, Any] | None:
    """The result's kind, which says what its message shows; None for a kind no longer registered."""
    try:
        return kind_named(name)
    except LookupError:
        return None


def _aspect(path: str, labels: Mapping[str, str]) -> str:
    head = path.split(".", 1)[0]
    return labels.get(head, head.replace("_", " "))


def _counts(report: Report) -> str:
    return ", ".join(f"{v} {k}" for k, v in report.summary.items() if v and k != "checked") or "nothing to report"


_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>&])")


def markdown_literal(text: str) -> str:
    """`text` as markdown that shows exactly these characters: every markup character backslash-escaped (no link,
    emphasis, heading, mention or HTML can come out of it); line breaks are kept."""
    return _MARKUP.sub(r"\\\1", text)


def _one_line(value: str) -> str:
    return " ".join(str(value).split())


def _ascii(text: str) -> str:
    return text.replace("—", "-").replace("\n", " ").encode("ascii", "replace").decode()
