"""The Lambda handler, in-process, as every test invokes it (the built function in a subprocess: devtools/invoke.py).

`invoke(event)` runs `app.lambda_handler` with a LambdaContext; a CloudFormation event's ResponseURL is pointed at a
local server first, so what CloudFormation got comes back with the result. Safe to call from several threads at once
for events other than CloudFormation's.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, NamedTuple

from devtools.invoke import LambdaContext, ResponseServer, is_cloudformation, load_handler

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
app = load_handler()


class Invoked(NamedTuple):
    result: Any  # what the handler returned
    responses: list[dict[str, Any]]  # the bodies CloudFormation got at its ResponseURL (none for other events)
    server: ResponseServer | None  # where they were sent (its url, every request); None for other events
    took: float  # seconds the handler took (not counting `linger`)


def invoke(event: Any, context: LambdaContext | None = None, *, timeout_s: float = 900.0, linger: bool = False,
           bound_s: float | None = None, handler: Any = None) -> Invoked:
    """Run the handler once on `event` with `context` (default: a fresh one with `timeout_s` to live).

    linger: keep listening until a second past the invocation's end, so a late second response would be seen.
    bound_s: run it on a thread and fail if it has not returned within that many seconds (a hung handler).
    handler: the app module to run (default: the function's own, imported as Lambda does)."""
    context = context or LambdaContext(timeout_s=timeout_s)
    module = handler or app
    with contextlib.ExitStack() as stack:
        server = None
        if is_cloudformation(event):  # only then: a ResponseServer sets SSL_CERT_FILE, process-wide, while it runs
            server = stack.enter_context(ResponseServer())
            event = {**event, "ResponseURL": server.url}
        started = time.monotonic()
        if bound_s is None:
            result = module.lambda_handler(event, context)
        else:
            result = _bounded(lambda: module.lambda_handler(event, context), bound_s)
        took = time.monotonic() - started
        if linger:
            time.sleep(context.get_remaining_time_in_millis() / 1000 + 1.0)
    return Invoked(result, server.responses if server else [], server, took)


def _bounded(call: Any, seconds: float) -> Any:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"the handler hung: no answer within {seconds:.0f} s"
    if "error" in out:
        raise out["error"]
    return out.get("result")
