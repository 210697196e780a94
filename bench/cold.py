"""A cold Lambda init, in the fresh interpreter that runs this file: `import app`, the five clients a healthy pass
needs, then the first scheduled run — each phase's CPU and wall time, printed as one JSON line after MARKER.

    python bench/cold.py     (bench/run.py runs it with AWS_ENDPOINT_URL set to its local AWS, and PYTHONPATH to the
                              built function and its layer, or to functions/selfheal when not built)

Only json, sys, time, resource and pathlib are imported before the first timer; the interpreter's own start-up, the
same for every Python program, is not counted. Each phase also counts its minor page faults (fresh memory first
touched, ~2.5 µs each on this VM): unlike CPU time, they do not vary with the machine's load.
"""

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "bench-cold-init: "
# The clients a healthy pass of the seed builds: the account id (sts), the account's public access block (s3control),
# the AWS-managed key (kms), the tables and the buckets.
SERVICES = ("kms", "sts", "dynamodb", "s3control", "s3")


def _now() -> tuple[float, float, int]:
    return time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _lap(since: tuple[float, float, int]) -> tuple[dict[str, float], tuple[float, float, int]]:
    now = _now()
    return {"wall_ms": 1000 * (now[0] - since[0]), "cpu_ms": 1000 * (now[1] - since[1]),
            "page_faults": now[2] - since[2]}, now  # fmt: skip


def main() -> dict[str, object]:
    sys.path.append(str(ROOT))  # for devtools, after the function's own paths
    mark = _now()
    import app  # noqa: PLC0415 - the import is what is measured

    imported, mark = _lap(mark)
    clients = app._clients()  # the clients the handler keeps for its warm invocations
    for service in SERVICES:
        clients.client(service)
    built, mark = _lap(mark)

    from devtools.invoke import LambdaContext  # noqa: PLC0415 - not the function's: outside the timed phases

    event = json.loads((ROOT / "events" / "scheduled.json").read_text())
    context = LambdaContext(timeout_s=900)
    mark = _now()
    result = app.lambda_handler(event, context)
    first_run, _ = _lap(mark)
    return {
        "import": imported,
        "clients": built,
        "first_run": first_run,
        "total": {k: imported[k] + built[k] + first_run[k] for k in imported},
        "summary": result["summary"],
        "clients_built": sorted(service for service, _ in clients._clients),
        # botocore's service data: parsed at build time (selfheal/servicedata.py) or by botocore now
        "service_data": type(clients.core.get_component("data_loader")).__name__,
        "api_calls": result.get("api_calls", {}),
        "imported_from": {name: str(Path(sys.modules[name].__file__ or "").parent) for name in ("app", "botocore")},
    }


if __name__ == "__main__":
    print(MARKER + json.dumps(main()))
