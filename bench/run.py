"""`make bench`: wall time and API calls of selfheal against its sequential baseline and a critical-path bound.

    python -m bench.run [--delay-ms 50] [--sizes 15,150,550] [--seq-budget-s 22] [--out docs]

Everything runs against a local AWS (devtools/localaws.py: moto behind a proxy that sleeps --delay-ms before each
request, standing in for AWS's latency). For each estate size and scenario (healthy pass, fresh heal from an empty
account, drift repair of one setting per resource) it times `Engine.apply()` with the estate's pool (16) and with
`pool_size=1` (one resource at a time: the sequential baseline), counts the calls the proxy saw, and computes

    bound = max(chain × t_call, calls ÷ pool × t_call, calls × cpu_per_call)

where t_call is one call's measured cost at the delay, `chain` the longest chain of dependent calls in the scenario
(see CHAINS) and cpu_per_call the CPU one call needs on this machine, measured at 0 ms (see `cpu_per_call`).

Timed runs measure what a warm Lambda and a CLI run do: one Clients for the whole benchmark, as app.py keeps its
clients across warm invocations (building clients is measured on its own: `client_construction`), garbage collected
before each timer starts, each run's thread pools started and stopped by the engine as in the product. A cold Lambda
init (fresh interpreter: imports, the five clients, the first healthy run) is measured by bench/cold.py.
Writes docs/benchmarks.json (raw), docs/benchmarks.md (table + explanation) and docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import boto3  # noqa: E402

from bench import ROOT  # noqa: E402  (the benchmark's sandbox: fake credentials, no config files)
from bench.estates import estate_yaml  # noqa: E402
from bench.heal_time import time_to_heal  # noqa: E402
from devtools.localaws import LocalAws  # noqa: E402
from selfheal.aws import Clients  # noqa: E402
from selfheal.engine import Engine, Options  # noqa: E402
from selfheal.loader import DEFAULT_ESTATE_PATH, load_estate, parse_estate  # noqa: E402
from selfheal.spec import Estate  # noqa: E402

SCENARIOS = ("healthy", "fresh", "drift")
# Longest chain of dependent calls: a call is dependent when it cannot be sent (or would be meaningless) before the
# previous call's answer. Independent reads or writes of one resource are one link, however many they are.
CHAINS = {
    # DescribeTable (does it exist? its ARN) -> PITR / TTL / tags reads side by side.  HeadBucket -> aspect reads.
    # The account's GetCallerIdentity -> GetPublicAccessBlock and the KMS key lookup are also 2 long.
    "healthy": 2,
    # The healthy reads (2) -> the repair writes of one resource, which do not depend on each other (1).
    "drift": 3,
    # DescribeTable (missing) -> ListBackups (restore before create) -> CreateTable -> DescribeTable (ACTIVE)
    # -> UpdateContinuousBackups (PITR only once ACTIVE). Buckets are shorter: HeadBucket -> CreateBucket
    # -> PutPublicAccessBlock -> PutBucketPolicy (a public policy needs the relaxed block first).
    "fresh": 5,
}
EXPECTED = {"healthy": "ok", "fresh": "created", "drift": "repaired"}
SEED_SIZE = 15
TICKS = os.sysconf("SC_CLK_TCK")
# the five clients a healthy pass of the seed builds (bench/cold.py builds the same); the shipped estate's builds a
# sixth, backup (an unversioned bucket's recovery points), measured on its own
SERVICES = ("kms", "sts", "dynamodb", "s3control", "s3")
SIXTH = "backup"


# --- measuring ------------------------------------------------------------------------------------------------------


def server_cpu(aws: LocalAws) -> float:
    """CPU seconds the local AWS process (moto + proxy, one interpreter) has used so far."""
    pid = aws._proc.pid  # type: ignore[union-attr]  # the server's process, to read its CPU time
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")


def admin(aws: LocalAws, service: str) -> Any:
    return session().client(service, endpoint_url=aws.endpoint)


_KEPT: dict[str, Clients] = {}


def kept_clients(aws: LocalAws) -> Clients:
    """The clients every timed run uses, built once, as app.py keeps them across warm invocations (a CLI run builds
    them once too)."""
    if aws.endpoint not in _KEPT:
        _KEPT[aws.endpoint] = Clients(session=session(), endpoint_url=aws.endpoint)
    return _KEPT[aws.endpoint]


def run_apply(aws: LocalAws, estate: Estate, pool_size: int | None) -> dict[str, Any]:
    """One timed `Engine.apply()`: wall time, client and server CPU, the report's summary and the proxy's calls."""
    aws.reset_calls()
    engine = Engine(estate, kept_clients(aws), Options(trigger="cli", pool_size=pool_size, poll_seconds=0.2))
    gc.collect()  # what earlier runs and the set-up left is not this run's to collect
    cpu0, srv0, t0 = time.process_time(), server_cpu(aws), time.perf_counter()
    report = engine.apply()
    wall = time.perf_counter() - t0
    cpu, srv = time.process_time() - cpu0, server_cpu(aws) - srv0
    calls = aws.calls()
    return {
        "wall_s": wall,
        "client_cpu_s": cpu,
        "server_cpu_s": srv,
        "summary": {k: v for k, v in report.summary.items() if v},
        "engine_api_calls": report.api_calls,
        "calls": calls,
    }


def make_drift(aws: LocalAws, estate: Estate) -> None:
    """By hand, as a person might: PITR off on every table; tags removed and BlockPublicAcls off on every bucket."""
    aws.set_delay(0)
    ddb, s3 = admin(aws, "dynamodb"), admin(aws, "s3")
    for t in estate.tables:
        ddb.update_continuous_backups(
            TableName=t.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
        )
    for b in estate.buckets:
        s3.delete_bucket_tagging(Bucket=b.name)
        cfg = s3.get_public_access_block(Bucket=b.name)["PublicAccessBlockConfiguration"]
        s3.put_public_access_block(Bucket=b.name, PublicAccessBlockConfiguration={**cfg, "BlockPublicAcls": False})


def prepare(aws: LocalAws, estate: Estate, scenario: str, delay_ms: float) -> None:
    """Put the account in the scenario's starting state (at 0 ms: set-up is not measured)."""
    aws.set_delay(0)
    if scenario == "fresh":
        aws.reset()
        warm_managed_key(aws)
    elif scenario == "drift":
        make_drift(aws, estate)
    aws.set_delay(delay_ms)


def warm_managed_key(aws: LocalAws) -> None:
    """Have moto make the AWS-managed key alias/aws/dynamodb now, not during the measured run.

    moto generates key material on first use (~0.2 s of CPU, repeated by every request that races to it); AWS does
    not charge the caller for that, so leaving it in would time moto, not the engine.
    """
    ddb = admin(aws, "dynamodb")
    name = "bench-managed-key"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS"},
    )
    ddb.delete_table(TableName=name)


def sample(estate: Estate, n: int) -> Estate:
    """Every k-th table and every k-th bucket, about n resources keeping the estate's mix."""
    step = max(1, round(len(estate.resources) / n))
    names = [t.name for t in estate.tables[::step]] + [b.name for b in estate.buckets[::step]]
    return estate.only(tuple(names))


# --- call accounting ------------------------------------------------------------------------------------------------


def call_stats(calls: list[dict[str, Any]], estate: Estate) -> dict[str, Any]:
    """Reads and writes in total, per kind of resource (mean and max per resource) and per operation."""
    kinds = {t.name: "table" for t in estate.tables} | {b.name: "bucket" for b in estate.buckets}
    per: dict[str, Counter[str]] = defaultdict(Counter)
    ops: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for c in calls:
        rw = "writes" if c["write"] else "reads"
        total[rw] += 1
        ops[f"{c['service']}:{c['operation']}"] += 1
        kind = kinds.get(c.get("name") or "", "account")
        per[c.get("name") if kind != "account" else "account"][rw] += 1
    by_kind: dict[str, Any] = {}
    for kind in ("table", "bucket"):
        names = [n for n, k in kinds.items() if k == kind]
        if not names:
            continue
        reads = [per[n]["reads"] for n in names]
        writes = [per[n]["writes"] for n in names]
        by_kind[kind] = {
            "count": len(names),
            "reads": sum(reads),
            "writes": sum(writes),
            "reads_per_resource": round(sum(reads) / len(names), 2),
            "writes_per_resource": round(sum(writes) / len(names), 2),
            "max_reads": max(reads),
            "max_writes": max(writes),
        }
    by_kind["account"] = {"reads": per["account"]["reads"], "writes": per["account"]["writes"]}
    return {
        "reads": total["reads"],
        "writes": total["writes"],
        "total": total["reads"] + total["writes"],
        "by_kind": by_kind,
        "by_operation": dict(sorted(ops.items())),
    }


def read_budget_misses(calls: list[dict[str, Any]], estate: Estate) -> list[str]:
    """Resources read more than the target allows on a healthy pass.

    Table: 2 reads (DescribeTable, DescribeContinuousBackups) + 1 per declared TTL and tags. Bucket: HeadBucket + 1 per
    declared aspect (public access block, ownership, encryption, versioning, website, tags), + policy, CORS and
    lifecycle declared or not (what is there beyond the declaration can widen access or destroy data: the findings),
    + its EventBridge notifications where it warns of a mass delete, + GetBucketVersioning where versioning is not
    declared, + GetBucketReplication and GetObjectLockConfiguration where it is (what a deletion would lose: the
    recovery column).
    """
    reads = Counter(c.get("name") for c in calls if not c["write"])
    misses = []
    for t in estate.tables:
        allowed = 2 + bool(t.ttl) + bool(t.tags)
        if reads[t.name] > allowed:
            misses.append(f"table {t.name}: {reads[t.name]} reads > {allowed}")
    for b in estate.buckets:
        declared = 3 + sum(bool(x) for x in (b.versioning, b.website, b.tags, b.mass_delete)) + 3  # + findings
        declared += not b.versioning  # versioning is read anyway: recoverability
        declared += 2 * b.versioning  # a versioned bucket's replication and Object Lock: recoverability
        if reads[b.name] > declared + 1:
            misses.append(f"bucket {b.name}: {reads[b.name]} reads > {declared + 1}")
    return misses


# --- calibration ----------------------------------------------------------------------------------------------------


def per_call_cost(aws: LocalAws, delay_ms: float, n: int) -> dict[str, float]:
    """n DescribeTable calls one at a time through boto3 + proxy + moto: ms of wall, client CPU, server CPU each."""
    ddb = admin(aws, "dynamodb")
    aws.set_delay(0)
    try:
        ddb.create_table(
            TableName="bench-calibration",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ddb.exceptions.ResourceInUseException:
        pass
    ddb.describe_table(TableName="bench-calibration")  # warm the connection
    aws.set_delay(delay_ms)
    cpu0, srv0, t0 = time.process_time(), server_cpu(aws), time.perf_counter()
    for _ in range(n):
        ddb.describe_table(TableName="bench-calibration")
    wall = time.perf_counter() - t0
    cpu, srv = time.process_time() - cpu0, server_cpu(aws) - srv0
    aws.set_delay(0)
    ddb.delete_table(TableName="bench-calibration")
    return {"delay_ms": delay_ms, "calls": n, "wall_ms": 1000 * wall / n, "client_cpu_ms": 1000 * cpu / n,
            "server_cpu_ms": 1000 * srv / n}  # fmt: skip


def cpu_per_call(aws: LocalAws, estate: Estate, cores: int, repeats: int = 3) -> dict[str, Any]:
    """Per scenario: the CPU one call costs, from the seed estate run one resource at a time at 0 ms.

    Engine + boto3 run in this process and moto + proxy in the server's, each in one interpreter whose GIL lets it
    use about one core. So N calls need at least max(N·client, N·server, N·(client + server) ÷ cores) seconds.
    """
    out: dict[str, Any] = {}
    prepare(aws, estate, "fresh", 0)
    run_apply(aws, estate, None)  # heal once, and warm boto3's models
    for scenario in ("fresh", "healthy", "drift"):
        runs = []
        for _ in range(repeats):
            prepare(aws, estate, scenario, 0)
            r = run_apply(aws, estate, 1)
            n = len(r["calls"])
            runs.append((r["wall_s"] / n, r["client_cpu_s"] / n, r["server_cpu_s"] / n))
        wall, client, server = (statistics.median(x) for x in zip(*runs, strict=True))
        out[scenario] = {
            "wall_ms": 1000 * wall,
            "client_cpu_ms": 1000 * client,
            "server_cpu_ms": 1000 * server,
            "cpu_bound_ms": 1000 * max(client, server, (client + server) / cores),
        }
    return out


# --- client construction and cold start ----------------------------------------------------------------------------


def client_construction(aws: LocalAws, repeats: int) -> dict[str, Any]:
    """CPU and wall ms to build the five clients of a new Clients in this running process, whose botocore service data
    is parsed already (the process's loader is shared): the function's (a Clients of its own session, as app.py makes
    it) and the CLI's (over a boto3 Session); medians of `repeats`, and the sixth client's cost."""

    def sample(make: Any, services: tuple[str, ...]) -> list[tuple[float, float]]:
        samples = []
        for _ in range(repeats):
            gc.collect()
            cpu0, t0 = time.process_time(), time.perf_counter()
            clients = make()
            for service in services:
                clients.client(service)
            samples.append((1000 * (time.process_time() - cpu0), 1000 * (time.perf_counter() - t0)))
        return samples

    def function_clients() -> Clients:
        return Clients(region="us-east-1", endpoint_url=aws.endpoint)

    own = sample(function_clients, SERVICES)
    cpu, wall = (statistics.median(x) for x in zip(*own, strict=True))
    six = statistics.median(c for c, _ in sample(function_clients, (*SERVICES, SIXTH)))
    cli = statistics.median(c for c, _ in sample(lambda: Clients(session=session(), endpoint_url=aws.endpoint),
                                                 SERVICES))  # fmt: skip
    return {"services": list(SERVICES), "repeats": repeats, "cpu_ms": cpu, "wall_ms": wall,
            "cpu_samples_ms": [c for c, _ in own], "sixth": SIXTH, "with_sixth_cpu_ms": six,
            "cli_cpu_ms": cli}  # fmt: skip


def function_paths() -> list[Path]:
    """What a cold start imports: the built function and its layer (.aws-sam/build, as Lambda gets them) when built,
    else functions/selfheal over this environment's packages."""
    build = ROOT / ".aws-sam" / "build"
    if (build / "Function" / "app.py").is_file() and (build / "DepsLayer" / "python").is_dir():
        return [build / "Function", build / "DepsLayer" / "python"]
    return [ROOT / "functions" / "selfheal"]


def shipped_bytecode() -> bool:
    """Does the built package carry its own .pyc files (make build compiles the function and the layer)?"""
    return len(function_paths()) > 1 and all(next(p.rglob("*.pyc"), None) is not None for p in function_paths())


def _python_env(cache: Path | None, shipped: bool = False) -> dict[str, str]:
    """A child interpreter's environment: the function's paths first, and its bytecode
    - shipped: only the .pyc files beside the sources, none written (Lambda's file system is read-only): the package
      as Lambda gets it;
    - cache: read from and written to `cache` (a package that is not built, compiled once like any installed one);
    - neither: never cached, every module compiled from source, as a package shipped without .pyc files."""
    env = {**os.environ, "POWERTOOLS_SERVICE_NAME": "selfheal", "POWERTOOLS_TRACE_DISABLED": "true",
           "PYTHONPATH": os.pathsep.join(str(p) for p in function_paths()),
           "AWS_LAMBDA_FUNCTION_NAME": "selfheal"}  # as Lambda's runtime sets it: app.py's cold start depends on it
    for var in [v for v in env if v.startswith("SELFHEAL_")]:
        del env[var]
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if shipped:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    elif cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-nopyc-")  # empty: no .pyc is found anywhere
    else:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def import_cpu_ms(module: str, env: dict[str, str]) -> float:
    """CPU ms of `import module` in a fresh interpreter (the function's paths first, as in Lambda)."""
    code = f"import time; t = time.process_time(); import {module}; print(time.process_time() - t)"
    done = subprocess.run([sys.executable, "-c", code], cwd=function_paths()[0], env=env,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return 1000 * float(done.stdout.strip().splitlines()[-1])


def child_cpu_ms(cmd: list[str], env: dict[str, str]) -> float:
    """CPU ms (user + system) a command's process used, start to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1000 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def cold_init(aws: LocalAws, delay_ms: float, env: dict[str, str]) -> dict[str, Any]:
    """One cold Lambda init (bench/cold.py in a fresh interpreter) against the local AWS, the estate it reads (the
    shipped one: the seed's tables and buckets and their AWS Backup plan) healthy."""
    aws.set_delay(0)
    shipped = load_estate(DEFAULT_ESTATE_PATH, env={})
    assert Engine(shipped, kept_clients(aws), Options(trigger="cli", poll_seconds=0.2)).apply().exit_code == 0
    aws.set_delay(delay_ms)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "cold.py")], capture_output=True, text=True,
                          env={**env, "AWS_ENDPOINT_URL": aws.endpoint}, timeout=300, check=True)  # fmt: skip
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("bench-cold-init: "))
    aws.set_delay(0)
    return dict(json.loads(line.removeprefix("bench-cold-init: ")))


def cold_start(aws: LocalAws, delay_ms: float, runs: int) -> dict[str, Any]:
    """`import app` against `import boto3`, `selfheal --version` against a bare interpreter, and cold Lambda inits —
    with the bytecode cached (as for any installed package) and, once, with none (every module compiled)."""
    module = "app" if (function_paths()[0] / "app.py").exists() else "selfheal.engine"
    shipped = shipped_bytecode()
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as cache:
        env = _python_env(Path(cache), shipped)
        import_cpu_ms(module, env)  # compiles and caches every module once (reads them once, when shipped)
        handler, boto = [], []
        for _ in range(runs):
            boto.append(import_cpu_ms("boto3", env))
            handler.append(import_cpu_ms(module, env))
        script = Path(sys.executable).parent / "selfheal"
        version = [str(script), "--version"] if script.exists() else [sys.executable, "-m", "selfheal", "--version"]
        child_cpu_ms(version, env)
        bare, cli = [], []
        for _ in range(runs):
            bare.append(child_cpu_ms([sys.executable, "-c", "pass"], env))
            cli.append(child_cpu_ms(version, env))
        inits = [cold_init(aws, delay_ms, env) for _ in range(runs)] if module == "app" else []
    uncompiled = cold_init(aws, delay_ms, _python_env(None)) if module == "app" else None
    build = ROOT / ".aws-sam" / "build"
    service_data = build / "Function" / "selfheal" / "botocore-data.marshal"  # make build writes it

    def size(path: Path) -> int | None:
        if not path.exists():
            return None
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)

    def median_init(key: str) -> dict[str, float]:
        return {m: statistics.median(i[key][m] for i in inits) for m in ("cpu_ms", "wall_ms", "page_faults")
                if all(m in i[key] for i in inits)}  # fmt: skip

    return {
        "module": module,
        "runs": runs,
        "method": "CPU time (process_time) of the import in a fresh interpreter, bytecode cached; median of runs",
        "bytecode": "shipped" if shipped else "cached",
        "imported_from": [str(p.relative_to(ROOT)) for p in function_paths()],
        "handler_import_cpu_ms": statistics.median(handler),
        "boto3_import_cpu_ms": statistics.median(boto),
        "ratio": statistics.median(handler) / statistics.median(boto),
        "handler_samples_ms": handler,
        "boto3_samples_ms": boto,
        "version_cpu_ms": statistics.median(cli),
        "bare_python_cpu_ms": statistics.median(bare),
        "version_over_bare_ms": statistics.median(cli) - statistics.median(bare),
        "cold_init": {key: median_init(key) for key in ("import", "clients", "first_run", "total")} if inits else None,
        "cold_init_runs": inits,
        "cold_init_uncompiled": uncompiled,
        "function_code_bytes": size(build / "Function"),
        "layer_bytes": size(build / "DepsLayer"),
        "layer_pyc_files": sum(1 for _ in (build / "DepsLayer").rglob("*.pyc")) if build.exists() else None,
        "function_pyc_files": sum(1 for _ in (build / "Function").rglob("*.pyc")) if build.exists() else None,
        "service_data_bytes": service_data.stat().st_size if service_data.is_file() else None,
    }


# --- the run --------------------------------------------------------------------------------------------------------


def bench_size(
    aws: LocalAws,
    size: int,
    delay_ms: float,
    seq_budget_s: float,
    t_call: float,
    cpu: dict[str, Any],
    per_resource: dict[str, float],
    log: Any,
    seed_repeats: int = 5,
    heal_repeats: int = 3,
) -> dict[str, Any]:
    """Every scenario on one estate size, with pool 16 and with pool_size=1.

    per_resource: seconds one resource takes sequentially, per scenario (filled in by the first, smallest size). A
    sequential run expected to take more than 1.35 × seq_budget_s is timed on a sample that fits the budget instead.
    """
    estate = parse_estate(estate_yaml(size), source=f"bench-{size}")
    pool = estate.settings.pool_size
    results: dict[str, Any] = {}
    order = [("fresh", False), ("healthy", False), ("healthy", True), ("drift", False), ("drift", True),
             ("fresh", True)]  # fmt: skip
    for scenario, sequential in order:
        target = estate
        if sequential and scenario in per_resource and per_resource[scenario] * size > 1.35 * seq_budget_s:
            target = sample(estate, max(10, int(seq_budget_s / per_resource[scenario])))
        # A run of the seed lasts about a second, so one stall swings it: time it several times, keep the median.
        repeats = seed_repeats if size <= SEED_SIZE and not sequential else 1
        runs = []
        for _ in range(repeats):
            prepare(aws, estate, scenario, delay_ms)
            runs.append(run_apply(aws, target, 1 if sequential else None))
        r = sorted(runs, key=lambda x: x["wall_s"])[len(runs) // 2]
        stats = call_stats(r["calls"], target)
        entry = results.setdefault(scenario, {})
        if sequential:
            scale = len(estate.resources) / len(target.resources)
            per_resource.setdefault(scenario, r["wall_s"] / len(target.resources))
            entry["sequential"] = {
                "wall_s": r["wall_s"] * scale,
                "measured_wall_s": r["wall_s"],
                "measured_resources": len(target.resources),
                "extrapolated": scale != 1,
                "calls": stats["total"],
                "summary": r["summary"],
            }
        else:
            n = stats["total"]
            terms = {
                "chain_s": CHAINS[scenario] * t_call,
                "pool_s": n / pool * t_call,
                "cpu_s": n * cpu[scenario]["cpu_bound_ms"] / 1000,
            }
            bound = max(terms.values())
            entry.update(
                wall_s=r["wall_s"],
                client_cpu_s=r["client_cpu_s"],
                server_cpu_s=r["server_cpu_s"],
                summary=r["summary"],
                engine_api_calls=r["engine_api_calls"],
                calls=stats,
                chain=CHAINS[scenario],
                bound_s=bound,
                bound_terms=terms,
                bound_by=max(terms, key=terms.__getitem__).removesuffix("_s"),
                wall_over_bound=r["wall_s"] / bound,
            )
            if scenario == "healthy":
                entry["read_budget_misses"] = read_budget_misses(r["calls"], target)
        tag = "sequential" if sequential else "selfheal"
        log(f"  {size:>4} {scenario:<8} {tag:<10} {r['wall_s']:7.2f}s  {len(r['calls']):5d} calls  {r['summary']}")
    for entry in results.values():
        entry["speedup"] = entry["sequential"]["wall_s"] / entry["wall_s"]
    return {"size": size, "tables": len(estate.tables), "buckets": len(estate.buckets), "pool_size": pool,
            "scenarios": results}  # fmt: skip


def run(
    delay_ms: float,
    sizes: list[int],
    seq_budget_s: float,
    import_runs: int,
    log: Any = print,
    calibration_calls: int = 300,
    cpu_repeats: int = 3,
    seed_repeats: int = 5,
    heal_repeats: int = 3,
    construction_repeats: int = 10,
) -> dict[str, Any]:
    """The whole benchmark on a local AWS of its own; returns what docs/benchmarks.json holds."""
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    seed = parse_estate(estate_yaml(SEED_SIZE), source="seed")
    # The cold start first, on a local AWS of its own: its CPU times are the package's, not those of a machine the
    # estate runs have kept busy for minutes (CPU time per instruction then rises up to 40%: import boto3 177 -> 250).
    with LocalAws() as fresh:
        cold = cold_start(fresh, delay_ms, import_runs)
    log(f"  import {cold['module']}: {cold['handler_import_cpu_ms']:.0f} ms CPU, boto3 "
        f"{cold['boto3_import_cpu_ms']:.0f} ms; selfheal --version {cold['version_over_bare_ms']:.0f} ms over bare")
    if cold["cold_init"]:
        c = cold["cold_init"]
        log("  cold init: " + ", ".join(f"{k} {v['cpu_ms']:.0f} ms CPU" for k, v in c.items()))
    with LocalAws() as aws:
        log(f"local AWS at {aws.endpoint}; {cores} cores; delay {delay_ms:g} ms")
        calls_at_0 = per_call_cost(aws, 0, calibration_calls)
        calls_at_d = per_call_cost(aws, delay_ms, max(5, calibration_calls // 8))
        cpu = cpu_per_call(aws, seed, cores, cpu_repeats)
        construction = client_construction(aws, construction_repeats)
        log(f"  one call: {calls_at_0['wall_ms']:.2f} ms at 0 ms, {calls_at_d['wall_ms']:.2f} ms at {delay_ms:g} ms")
        log(f"  five clients of a new Clients: {construction['cpu_ms']:.1f} ms CPU")
        t_call = calls_at_d["wall_ms"] / 1000
        per_resource: dict[str, float] = {}
        estates = [
            bench_size(aws, n, delay_ms, seq_budget_s, t_call, cpu, per_resource, log, seed_repeats)
            for n in sorted(sizes)
        ]
        healing = time_to_heal(aws, delay_ms, session(), heal_repeats)
        for kind, h in healing.items():
            log(f"  time to heal, {kind}: {h['engine_s']:.2f}s ({h['calls']} calls) -> {h['outcome']}")
    return {
        "generated_by": "make bench (bench/run.py)",
        "machine": {"cores": cores, "python": platform.python_version(), "platform": platform.platform()},
        "delay_ms": delay_ms,
        "per_call": {"at_0ms": calls_at_0, "at_delay": calls_at_d, "cpu_by_scenario": cpu},
        "chains": CHAINS,
        "client_construction": construction,
        "estates": estates,
        "time_to_heal": healing,
        "cold_start": cold,
        "bench_wall_s": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=50.0, help="latency added to every AWS call (default 50)")
    parser.add_argument("--sizes", default="15,150,550", help="estate sizes, comma-separated (15 = the shipped seed)")
    parser.add_argument(
        "--seq-budget-s", type=float, default=22.0, help="a longer sequential baseline is timed on a sample and scaled"
    )
    parser.add_argument("--import-runs", type=int, default=5, help="fresh interpreters per import measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.{json,md,png} go")
    parser.add_argument("--recover", action="store_true", help="then bench/recover.py (selfheal recover against "
                        "s3-pit-restore), which adds its own section to benchmarks.md")
    parser.add_argument("--drill", action="store_true", help="then bench/drill.py (a restore drill on AWS's clock, "
                        "scaled), which adds its own section to benchmarks.md")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    data = run(args.delay_ms, sizes, args.seq_budget_s, args.import_runs)
    from bench.report import write_all  # noqa: PLC0415 - matplotlib only once there is something to draw

    write_all(data, args.out)
    print(f"wrote {args.out}/benchmarks.{{json,md,png}} in {data['bench_wall_s']:.0f}s")
    if args.drill:
        from bench.drill import main as bench_drill  # noqa: PLC0415

        bench_drill(["--delay-ms", str(args.delay_ms), "--out", str(args.out)])
    if args.recover:
        from bench.recover import main as bench_recover  # noqa: PLC0415

        return bench_recover(["--out", str(args.out)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
