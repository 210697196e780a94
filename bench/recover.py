"""Bucket recovery: `selfheal recover` against s3-pit-restore (PyPI) on the same damage, in the same run.

    python -m bench.recover [--objects 10000] [--delay-ms 100] [--pit-python .venv-bench/bin/python] [--out docs]

Two versioned buckets on one local AWS (devtools/localaws.py) get the same objects of mixed sizes (seeded), then the
same damage: a mass delete (DeleteObjects, as `aws s3 rm --recursive` sends it) of 40% of the keys, overwrites of
10%, and 5% new keys. With --delay-ms added to every call (AWS's latency), each tool brings one bucket back to the
time before the damage, as its user would run it: `selfheal recover B --to T --remove-newer` and
`s3-pit-restore -b B -B B -t T` (from its own venv, `make bench-venv`). Each result is checked the same way: every
key's current ETag against the one it had at T, keys created after T gone, every earlier version still there.
Writes docs/benchmarks-recover.json and its own section of docs/benchmarks.md (between markers; the rest of that
file is bench/run.py's).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from bench import ROOT, write_section  # noqa: E402  (the benchmark's sandbox: fake credentials, no config files)
from devtools.localaws import LocalAws  # noqa: E402
from selfheal.recover.listing import STREAMS  # noqa: E402

START, END = "<!-- bench/recover.py: start -->", "<!-- bench/recover.py: end -->"
GALLERIES = 20
DELETED = range(0, 8)  # galleries 0-7: 40% of the keys under a delete marker
OVERWRITTEN = range(8, 10)  # galleries 8-9: 10% overwritten
NEW_SHARE = 0.05
FAST = "selfheal recover --bucket-encryption"


def sizes(rng: random.Random) -> int:
    """Thumbnails, photos and a few originals: 90% 0.2-2 KB, 9% 4-32 KB, 1% 64-256 KB. Kept small on purpose: the
    local AWS (moto) deep-copies every version of the bucket, bytes included, on each ListObjectVersions page."""
    roll = rng.random()
    if roll < 0.90:
        return rng.randint(200, 2_000)
    if roll < 0.99:
        return rng.randint(4_000, 32_000)
    return rng.randint(64_000, 256_000)


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint,
                        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 8}))


def seed(s3: Any, bucket: str, objects: int, rng_seed: int) -> dict[str, str]:
    """The bucket as it is at T: key -> ETag."""
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rng = random.Random(rng_seed)
    keys = [(f"photos/g{n % GALLERIES:02d}/{n:06d}.jpg", sizes(rng), rng.getrandbits(64)) for n in range(objects)]

    def put(item: tuple[str, int, int]) -> tuple[str, str]:
        key, size, salt = item
        data = random.Random(salt).randbytes(size)
        return key, s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg")["ETag"]

    with ThreadPoolExecutor(32) as pool:
        return dict(pool.map(put, keys))


def damage(s3: Any, bucket: str, at_t: dict[str, str]) -> dict[str, int]:
    """The same damage on either bucket: a mass delete, overwrites, new keys."""
    deleted = [k for k in at_t if int(k.split("/")[1][1:]) in DELETED]
    overwritten = [k for k in at_t if int(k.split("/")[1][1:]) in OVERWRITTEN]
    new = [f"photos/new/{n:06d}.jpg" for n in range(int(len(at_t) * NEW_SHARE))]
    for i in range(0, len(deleted), 1000):
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in deleted[i:i + 1000]],
                                                          "Quiet": True})
        assert not answer.get("Errors"), answer["Errors"][:3]

    def put(key: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=b"overwritten by a bad sync " + key.encode())

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, overwritten + new))
    return {"deleted": len(deleted), "overwritten": len(overwritten), "new": len(new)}


def state(s3: Any, bucket: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """(current key -> ETag, every (key, version id) including delete markers)."""
    current, every = {}, set()
    # One page: the local AWS copies the whole bucket for every page it answers (AWS itself caps pages at 1,000).
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 100_000})
    for page in pages:
        for v in page.get("Versions", []):
            every.add((v["Key"], v["VersionId"]))
            if v["IsLatest"]:
                current[v["Key"]] = v["ETag"]
        for m in page.get("DeleteMarkers", []):
            every.add((m["Key"], m["VersionId"]))
    return current, every


def check(s3: Any, bucket: str, at_t: dict[str, str], before: set[tuple[str, str]]) -> dict[str, Any]:
    """The same correctness check for both tools."""
    current, every = state(s3, bucket)
    missing = sorted(k for k in at_t if k not in current)
    wrong = sorted(k for k in at_t if k in current and current[k] != at_t[k])
    extra = sorted(k for k in current if k not in at_t)
    lost = len(before - every)
    return {"correct": not (missing or wrong or extra or lost), "missing": len(missing), "wrong_content": len(wrong),
            "newer_left": len(extra), "versions_lost": lost, "examples": (missing + wrong + extra)[:5]}


def timed(cmd: list[str], env: dict[str, str], cwd: str,
          timeout: float) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return time.perf_counter() - started, proc


def server_cpu(aws: LocalAws) -> float | None:
    """CPU seconds the local AWS's process has used so far (Linux /proc), or None where that cannot be read."""
    proc = getattr(aws, "_proc", None)
    try:
        with open(f"/proc/{proc.pid}/stat") as stat:  # type: ignore[union-attr]
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (AttributeError, OSError, IndexError, ValueError):
        return None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def calls_by_operation(aws: LocalAws) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in aws.calls():
        out[c["operation"]] = out.get(c["operation"], 0) + 1
    return dict(sorted(out.items()))


def run(objects: int, delay_ms: float, workers: int, pit_python: Path | None, log: Any = print,
        rng_seed: int = 18) -> dict[str, Any]:
    started = time.perf_counter()
    load = os.getloadavg()
    with LocalAws() as aws, tempfile.TemporaryDirectory() as work:
        s3 = s3_client(aws.endpoint)
        buckets = {"selfheal recover": "bench-recover-selfheal", FAST: "bench-recover-selfheal-fast",
                   "s3-pit-restore": "bench-recover-pit"}
        if pit_python is None:
            buckets.pop("s3-pit-restore")
        at_t: dict[str, str] = {}
        for bucket in buckets.values():
            at_t = seed(s3, bucket, objects, rng_seed)
            log(f"  seeded {bucket}: {len(at_t)} objects")
        time.sleep(1.1)
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        time.sleep(1.1)
        harm: dict[str, int] = {}
        before: dict[str, set[tuple[str, str]]] = {}
        for bucket in buckets.values():
            harm = damage(s3, bucket, at_t)
            before[bucket] = state(s3, bucket)[1]
        log(f"  damage: {harm}; T = {when}")
        env = {**os.environ, "AWS_ENDPOINT_URL": aws.endpoint}
        commands = {
            tool: [sys.executable, "-m", "selfheal", "recover", buckets[tool], "--to", when, "--remove-newer", "--json",
                   "--workers", str(workers), *(["--bucket-encryption"] if tool == FAST else [])]
            for tool in ("selfheal recover", FAST)
        }
        if pit_python is not None:
            script = pit_python.parent / "s3-pit-restore"
            commands["s3-pit-restore"] = [str(pit_python), str(script), "-b", buckets["s3-pit-restore"], "-B",
                                          buckets["s3-pit-restore"], "-t", when]
        tools: dict[str, Any] = {}
        for tool, cmd in commands.items():
            aws.reset_calls()
            aws.set_delay(delay_ms)
            load_at = os.getloadavg()[0]
            server_before, tool_before = server_cpu(aws), children_cpu()
            wall, proc = timed(cmd, env, work, timeout=3600)
            server_after, tool_after = server_cpu(aws), children_cpu()
            aws.set_delay(0)
            calls = calls_by_operation(aws)
            result = check(s3, buckets[tool], at_t, before[buckets[tool]])
            keys = objects + harm["new"]
            tools[tool] = {"wall_s": round(wall, 2), "exit_code": proc.returncode, "keys": keys,
                           "keys_per_s": round(keys / wall, 1), "calls": calls, "calls_total": sum(calls.values()),
                           "check": result, "stderr_tail": proc.stderr.strip().splitlines()[-3:],
                           "tool_cpu_s": round(tool_after - tool_before, 1),
                           "server_cpu_s": None if server_before is None or server_after is None
                           else round(server_after - server_before, 1),
                           "load": [round(load_at, 2), round(os.getloadavg()[0], 2)]}
            log(f"  {tool}: {wall:.1f} s, exit {proc.returncode}, {sum(calls.values())} calls, "
                f"correct={result['correct']} {result if not result['correct'] else ''}")
        per_call = per_call_cost(s3, aws, delay_ms)
    data = {
        "generated_by": "python -m bench.recover (make bench)",
        "objects": objects, "delay_ms": delay_ms, "workers": workers, "damage": harm, "T": when, "tools": tools,
        "per_call_ms": per_call, "machine": {"cores": os.cpu_count(), "load_before": [round(x, 2) for x in load]},
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    if "s3-pit-restore" in tools:
        data["speedup"] = {tool: round(tools["s3-pit-restore"]["wall_s"] / tools[tool]["wall_s"], 2)
                           for tool in ("selfheal recover", FAST)}
    return data


def per_call_cost(s3: Any, aws: LocalAws, delay_ms: float, n: int = 20) -> float:
    """One HeadBucket's wall time at the delay, in ms: what a call costs here."""
    aws.set_delay(delay_ms)
    started = time.perf_counter()
    for _ in range(n):
        s3.head_bucket(Bucket="bench-recover-selfheal")
    aws.set_delay(0)
    return round(1000 * (time.perf_counter() - started) / n, 1)


def markdown(data: dict[str, Any]) -> str:
    tools, harm = data["tools"], data["damage"]
    lines = [
        START,
        "## Bucket recovery: `selfheal recover` against s3-pit-restore",
        "",
        f"{data['objects']:,} objects of mixed sizes (90% 0.2–2 KB, 9% 4–32 KB, 1% 64–256 KB) in a versioned bucket, "
        f"then a mass delete of {harm['deleted']:,} (DeleteObjects, as `aws s3 rm --recursive`), "
        f"{harm['overwritten']:,} overwrites and {harm['new']:,} new keys; each tool brings its own copy of that "
        f"bucket back to the time before, with {data['delay_ms']:g} ms added to every call (one call measured "
        f"{data['per_call_ms']} ms), in the same run (bench/recover.py). s3-pit-restore 0.9 from PyPI, in its own "
        "venv, as its README runs it (`-b B -B B -t T`, 10 workers); selfheal with "
        f"`--remove-newer --workers {data['workers']}`. CPU: seconds the local AWS's process and the tool's own "
        "process used during the tool's run; load: the machine's 1-minute load average as the tool started and "
        f"ended ({data['machine']['cores']} cores).",
        "",
        "| tool | wall time | keys/s | calls | local AWS CPU | tool CPU | load | correct | what was wrong |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for tool, t in tools.items():
        c = t["check"]
        wrong = "—" if c["correct"] else (f"{c['missing']} missing, {c['wrong_content']} wrong content, "
                                          f"{c['newer_left']} newer keys left, {c['versions_lost']} versions lost")
        server = "—" if t.get("server_cpu_s") is None else f"{t['server_cpu_s']:.1f} s"
        load = "—" if "load" not in t else f"{t['load'][0]:g} → {t['load'][1]:g}"
        lines.append(f"| {tool} | **{t['wall_s']:.1f} s** | {t['keys_per_s']:.0f} | {t['calls_total']:,} | {server} | "
                     f"{t.get('tool_cpu_s', 0):.1f} s | {load} | {'yes' if c['correct'] else 'no'} | {wrong} |")
    lines.append("")
    if "speedup" in data:
        up = data["speedup"]
        met = [tool for tool in ("selfheal recover", FAST) if up[tool] >= 5]
        verdict = ("met by both" if len(met) == 2 else f"met by `{met[0]}` only" if met else "not met in this run")
        lines.append(f"Against s3-pit-restore: `selfheal recover` **{up['selfheal recover']}×** as fast, keeping each "
                     f"version's own encryption; with `--bucket-encryption` **{up[FAST]}×**. Target at least 5×: "
                     f"{verdict}.")
        lines.append("")
    sh, fast = tools["selfheal recover"]["calls"], tools[FAST]["calls"]
    lines += [
        f"Why: selfheal copies only the keys that differ from T, with up to {data['workers']} requests in flight "
        f"while the listing goes on, and lists up to {STREAMS} prefixes at once (the bucket and its first level by "
        "\"/\", then each gallery whole); s3-pit-restore copies every key's version "
        "at T, changed or not, 10 at a time, and waits for each listing page's copies before it reads the next "
        "page. By default selfheal reads each changed version's encryption first: a copy that names no encryption "
        "takes the destination bucket's default (CopyObject's `x-amz-server-side-encryption`; MetadataDirective "
        "COPY carries metadata, not encryption, and ListObjectVersions does not say it), so without that "
        "HeadObject an SSE-KMS photo would come back under another key. `--bucket-encryption` skips it, as "
        "s3-pit-restore does, for buckets whose objects all use the default. Calls: "
        f"{', '.join(f'{k} {v:,}' for k, v in sh.items())} (default); "
        f"{', '.join(f'{k} {v:,}' for k, v in fast.items())} (`--bucket-encryption`).",
        "",
        _limits(data),
        "",
        *_previous(data),
        "Not in this damage: a listing page holding only delete markers, where s3-pit-restore 0.9 stops "
        "(`if not \"Versions\" in page: sys.exit(1)`), and objects over 5 GB, which it sends to one CopyObject "
        "(S3's limit is 5 GB); selfheal's handling of both is tested in tests/e2e/test_recover.py.",
        END,
    ]
    return "\n".join(lines) + "\n"


def _previous(data: dict[str, Any]) -> list[str]:
    """The run before this one, in brief: the same bench under the load it had."""
    before = data.get("previous")
    if not before:
        return []
    walls = ", ".join(f"{tool} {wall:.1f} s" for tool, wall in before["wall_s"].items())
    loads = [x for load in before["load"].values() if load for x in load] or [0.0]
    up = before.get("speedup")
    ratio = f"; {up['selfheal recover']}× and {up[FAST]}× with `--bucket-encryption`" if up else ""
    return [f"The run before this one (T = {before['T']}, load average {min(loads):g}–{max(loads):g}): "
            f"{walls}{ratio}.", ""]


def _limits(data: dict[str, Any]) -> str:
    """What bounded each tool in this run (from its CPU and the machine's load), and what the calls alone predict
    where the server is not on this machine."""
    tools, t_call, cores = data["tools"], data["per_call_ms"] / 1000, data["machine"]["cores"] or 1
    parts = []
    for tool in ("selfheal recover", FAST):
        t = tools[tool]
        if t.get("server_cpu_s") is None:
            continue
        busy = t["server_cpu_s"] / t["wall_s"]
        both = (t["server_cpu_s"] + t.get("tool_cpu_s", 0)) / t["wall_s"]
        per_call = 1000 * t["server_cpu_s"] / t["calls_total"]
        client = 1000 * t.get("tool_cpu_s", 0) / t["calls_total"]
        parts.append(f"`{tool}` kept the local AWS busy {busy:.0%} of its wall time, the two together "
                     f"{both:.1f} cores' worth ({per_call:.1f} ms of the server's CPU and {client:.1f} ms of its own "
                     "per call)")
    text = ("; ".join(parts) + ". The local AWS is one Python process (moto and the proxy share one interpreter "
            "lock, so one core at most): moto's own request handling is most of its CPU per call, and the added "
            "latency is a sleep that holds no lock. A server busy close to 100%, or the two together using what "
            "the machine could give them, means CPU was the bound here, not selfheal's requests in flight "
            f"({data['workers']} at {data['per_call_ms']} ms would allow {data['workers'] / t_call:.0f} calls a "
            "second).") if parts else ""
    load = max(max(t.get("load") or [0, 0]) for t in tools.values())
    if load > cores:
        text += (f" The machine was shared (load average up to {load:g} on {cores} cores during the run): the "
                 "server and the tools got a share of the cores, so every wall time here is longer than on a quiet "
                 "machine; both tools met the same server in the same run.")
    if "s3-pit-restore" in tools:
        pit = tools["s3-pit-restore"]
        floor = pit["calls_total"] * t_call / 10
        copies = data["damage"]["deleted"] + data["damage"]["overwritten"]
        chained = {"selfheal recover": 2, FAST: 1}
        predicted = {tool: (data["objects"] / 10) / (copies * n / data["workers"]) for tool, n in chained.items()}
        sh_load = max(max(tools[t].get("load") or [0, 0]) for t in ("selfheal recover", FAST))
        pit_load = max(pit.get("load") or [0, 0])
        if sh_load > 1.5 * pit_load > 0 or pit_load > 1.5 * sh_load > 0:
            quieter = "s3-pit-restore" if sh_load > pit_load else "selfheal"
            text += (f" The load moved during the run (up to {sh_load:g} while selfheal ran, {pit_load:g} while "
                     f"s3-pit-restore did): the ratio favours {quieter}, which ran on the quieter machine.")
        text += (f" s3-pit-restore, 10 in flight, is bound by latency: {pit['calls_total']:,} calls × "
                 f"{data['per_call_ms']} ms ÷ 10 = {floor:.0f} s at best. Against AWS, where the server side is not "
                 f"on this machine, the calls alone predict {predicted['selfheal recover']:.1f}× (a HeadObject and a "
                 f"CopyObject per changed key, {data['workers']} at a time, against a CopyObject per key, 10 at a "
                 f"time) and {predicted[FAST]:.1f}× with `--bucket-encryption` — computed, not measured.")
    return text.strip()


def headline(data: dict[str, Any]) -> dict[str, Any]:
    """A run in brief, kept by the next run so that two figures under different loads stand side by side."""
    return {"T": data.get("T"), "speedup": data.get("speedup"),
            "wall_s": {tool: t["wall_s"] for tool, t in data["tools"].items()},
            "load": {tool: t.get("load") for tool, t in data["tools"].items()}}


def write(data: dict[str, Any], out: Path) -> None:
    saved = out / "benchmarks-recover.json"
    try:
        before = json.loads(saved.read_text())
    except (OSError, ValueError):
        before = None
    if before and before.get("T") != data.get("T") and before.get("tools") and \
            (before.get("objects"), before.get("delay_ms")) == (data["objects"], data["delay_ms"]):
        data["previous"] = headline(before)
    saved.write_text(json.dumps(data, indent=2) + "\n")
    write_section(out / "benchmarks.md", START, END, markdown(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--delay-ms", type=float, default=100.0, help="latency added to every AWS call (default 100)")
    parser.add_argument("--workers", type=int, default=64, help="selfheal recover --workers (default 64)")
    parser.add_argument("--pit-python", type=Path, default=ROOT / ".venv-bench" / "bin" / "python",
                        help="the python of a venv with s3-pit-restore installed (make bench-venv)")
    parser.add_argument("--no-pit", action="store_true", help="time selfheal alone")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    pit = None if args.no_pit else args.pit_python
    if pit is not None and not (pit.exists() and (pit.parent / "s3-pit-restore").exists()):
        parser.error(f"--pit-python {pit}: no s3-pit-restore beside it — run `make bench-venv` (or pass --no-pit)")
    print(f"bucket recovery: {args.objects} objects, {args.delay_ms:g} ms per call")
    data = run(args.objects, args.delay_ms, args.workers, pit)
    write(data, args.out)
    print(f"wrote {args.out}/benchmarks-recover.json and its section of benchmarks.md in {data['bench_wall_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
