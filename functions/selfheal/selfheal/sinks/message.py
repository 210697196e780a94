"""Tell people: one message on the alarm topic for an apply run that healed, failed, was held or left work."""

from __future__ import annotations

from .base import Finished, Invocation


def send(finished: Finished, invocation: Invocation) -> None:
    """Compose and publish (notify.py decides whether there is anything to tell; a refused publish is logged)."""
    if invocation.topic_arn is None or finished.report.action != "apply":
        return
    from .. import notify  # noqa: PLC0415 - only an apply run with a topic tells anyone

    message = notify.compose(finished.report, finished.change, finished.handed_over)
    if message is not None:
        notify.publish(invocation.clients, invocation.topic_arn, message)
