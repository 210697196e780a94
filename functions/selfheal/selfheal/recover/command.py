"""`selfheal recover BUCKET --to TIME`: the CLI face of recover — arguments, progress bar, report, exit code."""

from __future__ import annotations

import argparse
import re

# cli.py builds this parser for any command, `--version` too: the rest is imported where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path
    from typing import Any

EPILOG = """\
Runs with YOUR credentials (the deployed function's role has none of this power). It needs, on the bucket:
  s3:ListBucket (HeadBucket), s3:GetBucketVersioning, s3:ListBucketVersions (ListObjectVersions),
  s3:GetObjectVersion (HEAD and the copy's source), s3:GetObjectVersionTagging (the version's tags),
  s3:PutObject and s3:PutObjectTagging (the copy, with its tags), s3:AbortMultipartUpload (a failed copy over 5 GB),
  s3:DeleteObject only with --remove-newer or --undo (it ADDS a delete marker), s3:RestoreObject only with --thaw,
  and kms:Decrypt + kms:GenerateDataKey on the keys of SSE-KMS objects.
It never calls DeleteObjectVersion: a Deny on s3:DeleteObjectVersion does not stop it.

  selfheal recover galerly-images-storage --to 2h --dry-run          # what would come back, and its cost
  selfheal recover galerly-images-storage --to 2026-12-05T09:30:00Z  # bring it back (a manifest is written)
  selfheal recover galerly-images-storage --undo selfheal-recover-galerly-images-storage-20261205T093000Z.jsonl
Exit codes: a dry run 0 nothing to do, 2 work pending, 1 problems; a run 0 when every key that can come back is as
at TIME, 2 when archived versions wait for a thaw, 1 when a key failed. docs/recovery.md
"""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def add_parser(sub: Any, aws_options: argparse.ArgumentParser) -> None:
    """The `recover` subcommand on the CLI's subparsers."""
    p = sub.add_parser(
        "recover",
        parents=[aws_options],
        help="bring a versioned bucket's objects back as they were at a time (copies old versions; never deletes)",
        description="For every key under the prefix, the version current at TIME becomes current again (copied onto "
        "the key); keys created since are listed (--remove-newer adds a delete marker); keys already as at TIME are "
        "not touched, so a rerun writes nothing. A manifest of every write lets --undo put things back.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("bucket", metavar="BUCKET", help="the versioned bucket")
    p.add_argument("--to", metavar="TIME",
                   help="ISO 8601 with a zone (2026-12-05T09:30:00Z) or a time ago: 30m, 2h, 3d")
    p.add_argument("--prefix", metavar="P", default="", help="only the keys starting with P")
    p.add_argument("--dry-run", action="store_true", help="count, price and time the work; write nothing")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON report on stdout")
    p.add_argument("--workers", type=int, default=64, metavar="N", help="requests in parallel (default 64)")
    p.add_argument("--remove-newer", action="store_true",
                   help="add a delete marker on keys that did not exist at TIME (their versions stay)")
    p.add_argument("--thaw", action="store_true",
                   help="start RestoreObject for versions at TIME in Glacier / Deep Archive (then run again later)")
    p.add_argument("--thaw-days", type=int, default=7, metavar="D", help="days a thawed copy stays readable (7)")
    p.add_argument("--bucket-encryption", action="store_true",
                   help="copies take the bucket's default encryption instead of each version's own: one request per "
                   "key instead of two (a HeadObject each); for buckets whose objects all use the default and carry "
                   "no website redirect (which S3 copies only when the request names it)")
    p.add_argument("--manifest", metavar="FILE",
                   help="the run's journal and undo manifest (default: selfheal-recover-BUCKET-TIME.jsonl here)")
    p.add_argument("--undo", metavar="MANIFEST", help="put back what a recover run (its manifest) replaced")
    p.add_argument("--multipart-threshold", type=int, default=None, help=argparse.SUPPRESS)  # tests: lower 5 GiB
    p.add_argument("--part-size", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--page-size", type=int, default=None, help=argparse.SUPPRESS)


def default_manifest(bucket: str, when: datetime, prefix: str) -> Path:
    """One name per (bucket, TIME, prefix): the same command run again finds and continues its journal."""
    from datetime import UTC  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    slug = "-" + re.sub(r"[^A-Za-z0-9._-]+", "_", prefix).strip("_")[:40] if prefix else ""
    return Path(f"selfheal-recover-{bucket}-{when.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}{slug}.jsonl")


def run(opt: Any) -> int:
    """`selfheal recover`: bad input is one line naming the option and the fix, before any write."""
    from datetime import UTC, datetime  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..cli import UsageError, _session  # noqa: PLC0415 - cli imports this module
    from .decide import TimeError, iso, parse_time  # noqa: PLC0415
    from .manifest import ManifestError, read  # noqa: PLC0415

    bucket = opt("bucket")
    if not _BUCKET.match(bucket or ""):
        raise UsageError(f"BUCKET {bucket!r}: not a bucket name — 3-63 lowercase letters, digits, dots and hyphens")
    workers = opt("workers")
    if not 1 <= workers <= 1024:
        raise UsageError(f"--workers {workers}: must be 1 to 1024 (S3 takes 3,500 writes a second per prefix; "
                         "64 is plenty)")
    if not 1 <= opt("thaw_days") <= 30:
        raise UsageError(f"--thaw-days {opt('thaw_days')}: must be 1 to 30")
    undo_path = opt("undo")
    manifest = None
    if undo_path is not None:
        for flag, name in (("--to", "to"), ("--remove-newer", "remove_newer"), ("--thaw", "thaw"),
                           ("--manifest", "manifest"), ("--bucket-encryption", "bucket_encryption")):
            if opt(name):
                raise UsageError(f"{flag}: not an option of --undo (the manifest says what to put back) — leave it "
                                 "out")
        if opt("prefix"):
            raise UsageError("--prefix: not an option of --undo (the manifest names its keys) — leave it out")
        try:
            manifest = read(Path(undo_path))
        except ManifestError as exc:
            raise UsageError(f"--undo {exc}") from None
        if manifest.bucket != bucket:
            raise UsageError(f"--undo {undo_path}: a manifest of bucket {manifest.bucket}, not {bucket} — pass "
                             f"`selfheal recover {manifest.bucket} --undo {undo_path}`")
    elif opt("to") is None:
        raise UsageError("--to TIME is required: the time to go back to, e.g. --to 2h or --to 2026-12-05T09:30:00Z")
    when = None
    if manifest is None:
        try:
            when = parse_time(opt("to"), datetime.now(UTC))
        except TimeError as exc:
            raise UsageError(f"--to {exc}") from None
    session, region = _session(opt)
    s3 = _client(session, region, opt, workers)
    view = _View(bool(opt("json")))
    if manifest is not None:
        return _undo(s3, manifest, Path(undo_path), region, opt, view)
    assert when is not None
    return _recover(s3, bucket, when, region, opt, view, iso)


def _client(session: Any, region: str, opt: Any, workers: int) -> Any:
    from botocore.config import Config  # noqa: PLC0415

    from ..aws import CLIENT_CONFIG, OPERATOR_AGENT, Clients  # noqa: PLC0415
    from .listing import parse_timestamp  # noqa: PLC0415

    # this command's own session: its clients parse S3's dates without dateutil (botocore's documented hook)
    session._session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    # One connection per worker and per part copier; botocore's default pool of 10 would queue them.
    config = CLIENT_CONFIG.merge(Config(max_pool_connections=workers + 16))
    clients = Clients(session=session, region=region, endpoint_url=opt("endpoint_url"), config=config,
                      user_agent=OPERATOR_AGENT)
    return clients.client("s3")


def _recover(s3: Any, bucket: str, when: datetime, region: str, opt: Any, view: _View, iso: Any) -> int:
    import json  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..cli import UsageError  # noqa: PLC0415
    from .copy import COPY_LIMIT, DEFAULT_PART  # noqa: PLC0415
    from .manifest import ManifestError  # noqa: PLC0415
    from .run import BucketProblem, Request, recover  # noqa: PLC0415

    request = Request(
        bucket=bucket, to=when, prefix=opt("prefix") or "", dry_run=bool(opt("dry_run")),
        remove_newer=bool(opt("remove_newer")), thaw=bool(opt("thaw")), thaw_days=opt("thaw_days"),
        workers=opt("workers"), multipart_threshold=opt("multipart_threshold") or COPY_LIMIT,
        part_size=opt("part_size") or DEFAULT_PART, page_size=opt("page_size"),
        keep_encryption=not opt("bucket_encryption"),
    )
    path = Path(opt("manifest")) if opt("manifest") else default_manifest(bucket, when, request.prefix)
    view.say(f"recover {bucket} to {iso(when)}" + (f" (prefix {request.prefix!r})" if request.prefix else "")
             + (" — dry run, nothing is written" if request.dry_run else f" — manifest {path}"))
    try:
        with view.bar("recovering" if not request.dry_run else "planning") as progress:
            result = recover(s3, request, region, path, progress)
    except (BucketProblem, ManifestError) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        view.err.print(f"interrupted: {path} holds every write so far — run `selfheal recover {bucket} --to {iso(when)}"
                 + (f" --prefix {request.prefix}" if request.prefix else "") + "` again to go on", markup=False)
        raise
    if opt("json"):
        print(json.dumps(result.to_dict(), indent=2))
    else:
        view.report(result, iso(when))
    return result.exit_code()


def _undo(s3: Any, manifest: Any, path: Path, region: str, opt: Any, view: _View) -> int:
    import json  # noqa: PLC0415

    from ..cli import UsageError  # noqa: PLC0415
    from .manifest import ManifestError  # noqa: PLC0415
    from .run import BucketProblem, undo  # noqa: PLC0415

    dry = bool(opt("dry_run"))
    journal = path.with_name(path.name.removesuffix(".jsonl") + ".undo.jsonl")
    view.say(f"undo {path} on {manifest.bucket}: {len(manifest.by_key())} keys"
             + (" — dry run, nothing is written" if dry else ""))
    try:
        with view.bar("undoing") as progress:
            result = undo(s3, manifest, region, dry_run=dry, workers=opt("workers"),
                          journal_path=None if dry else journal, progress=progress, page_size=opt("page_size"))
    except (BucketProblem, ManifestError) as exc:
        raise UsageError(str(exc)) from None
    if opt("json"):
        print(json.dumps(result.to_dict(), indent=2))
    else:
        view.undo_report(result)
    return result.exit_code()


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class _View:
    """rich on a terminal: a progress bar (objects/s, bytes/s) while it runs, then a table; quiet progress in JSON
    mode or without a terminal."""

    def __init__(self, as_json: bool) -> None:
        from rich.console import Console  # noqa: PLC0415

        self.out = Console(stderr=as_json, highlight=False)
        self.err = Console(stderr=True, highlight=False)
        self.as_json = as_json

    def say(self, text: str) -> None:
        """A headline on a terminal only: piped or scripted, stderr carries nothing but errors."""
        if self.err.is_terminal:
            self.err.print(text, markup=False)

    def bar(self, verb: str) -> Any:
        from contextlib import nullcontext  # noqa: PLC0415

        from ..recover.run import Progress  # noqa: PLC0415

        if not self.err.is_terminal:
            return nullcontext(Progress())
        return _Bar(self.err, verb)

    def report(self, result: Any, when: str) -> None:
        from rich.table import Table  # noqa: PLC0415

        r, t, d = result.request, result.tally.counts, result.done
        table = Table(title=f"{r.bucket} as at {when}" + (" (dry run)" if r.dry_run else ""), show_header=True)
        table.add_column("keys")
        table.add_column("count", justify="right")
        table.add_column("what happens")
        table.add_row("as at TIME", str(t["as_at"]), "untouched")
        copied = d.get("would_copy" if r.dry_run else "copied", 0)
        table.add_row("changed since", str(t["copy"]),
                      f"{'would be ' if r.dry_run else ''}copied back: {copied} ({_size(result.tally.bytes_to_copy)})")
        newer = ("a delete marker added" + (f": {d.get('marked', 0)}" if not r.dry_run else "")
                 if r.remove_newer else "left alone (--remove-newer adds a delete marker)")
        table.add_row("not there at TIME", str(t["newer"]), newer)
        if t["archived"]:
            table.add_row("archived at TIME", str(t["archived"]), self._archived(result))
        if result.failed:
            table.add_row("failed", str(len(result.failed)), "see below", style="red")
        self.out.print(table)
        self._listing("not there at TIME", result.tally.newer)
        self._listing("archived (Glacier / Deep Archive)", result.tally.archived)
        for key, error in result.failed[:20]:
            self.out.print(f"  failed {key}: {error}", markup=False)
        if len(result.failed) > 20:
            self.out.print(f"  ... and {len(result.failed) - 20} more (--json lists them)")
        if r.dry_run:
            e = result.estimate()
            q = e["requests"]
            self.out.print(
                f"requests: {q['head']} HEAD, {q['copy_put_post']} COPY/PUT/POST, {q['delete_marker']} DELETE "
                f"(free) ≈ ${e['request_cost_usd']:.4f}; the copies are new versions: {e['new_version_gb']} GB ≈ "
                f"${e['storage_cost_usd_per_month']:.4f} a month in S3 Standard (us-east-1 list prices)", markup=False)
            self.out.print(f"estimated time: {e['seconds']} s with {r.workers} workers at the measured "
                           f"{1000 * e['per_call_seconds']:.0f} ms per call (large copies take longer)", markup=False)
        else:
            rate = (t["copy"] + (t["newer"] if r.remove_newer else 0)) / result.seconds if result.seconds else 0.0
            self.out.print(f"took {result.seconds:.1f} s ({rate:.0f} objects/s written, "
                           f"{_size(result.bytes_copied / result.seconds if result.seconds else 0)}/s copied); "
                           f"{result.tally.keys} keys looked at", markup=False)
            if result.manifest:
                self.out.print(f"manifest: {result.manifest} — undo with `selfheal recover {r.bucket} --undo "
                               f"{result.manifest}`", markup=False)

    def _archived(self, result: Any) -> str:
        from .run import THAW_HOURS  # noqa: PLC0415

        d, r = result.done, result.request
        if d.get("thaw_started") or d.get("thawing"):
            return (f"thaw started: {d.get('thaw_started', 0)}, thawing: {d.get('thawing', 0)} — run again in "
                    f"{THAW_HOURS['GLACIER']} h (Glacier Flexible Retrieval) or {THAW_HOURS['DEEP_ARCHIVE']} h "
                    "(Deep Archive)")
        if r.thaw and r.dry_run:
            return "--thaw would start RestoreObject; then run again hours later"
        return "not recoverable in place yet: run with --thaw (RestoreObject), then again hours later"

    def _listing(self, title: str, keys: list[str]) -> None:
        if not keys:
            return
        shown = ", ".join(keys[:10]) + (f" ... and {len(keys) - 10} more (--json lists them)" if len(keys) > 10 else "")
        self.out.print(f"{title}: {shown}", markup=False)

    def undo_report(self, result: Any) -> None:
        d = result.done
        verb = "would " if result.dry_run else ""
        self.out.print(f"undo on {result.bucket}: {verb}put back {d.get('restored', 0) + d.get('would_copy', 0)}, "
                       f"{verb}mark deleted {d.get('marked', 0) + d.get('would_mark', 0)}, already as before "
                       f"{d.get('already', 0)}, changed since the recover (left alone) {len(result.changed)}, "
                       f"failed {len(result.failed)} ({result.seconds:.1f} s)", markup=False)
        self._listing("changed since the recover", result.changed)
        for key, error in result.failed[:20]:
            self.out.print(f"  failed {key}: {error}", markup=False)


class _Bar:
    """A rich progress bar fed by run.Progress's calls: keys acted on of those planned, objects/s, bytes/s."""

    def __init__(self, console: Any, verb: str) -> None:
        import threading  # noqa: PLC0415

        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} objects"), TextColumn("{task.fields[rate]} obj/s"),
            TextColumn("{task.fields[bps]}/s"), TimeElapsedColumn(), console=console, transient=True,
        )
        self.verb = verb
        self.task: Any = None
        self.objects = 0
        self.bytes = 0
        self.started = 0.0
        self.lock = threading.Lock()

    def __enter__(self) -> _Bar:
        import time  # noqa: PLC0415

        self.progress.__enter__()
        self.task = self.progress.add_task(f"{self.verb} (listing)", total=None, rate="0", bps="0 B")
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def listed(self, keys: int, actions: int, bytes_total: int) -> None:
        self.progress.update(self.task, total=actions, description=f"{self.verb} ({keys} keys listed)")

    def listing_done(self) -> None:
        self.progress.update(self.task, description=self.verb)

    def advance(self, objects: int, nbytes: int) -> None:
        import time  # noqa: PLC0415

        with self.lock:  # worker threads report at once
            self.objects += objects
            self.bytes += nbytes
            elapsed = max(1e-6, time.perf_counter() - self.started)
            self.progress.update(self.task, advance=objects, rate=f"{self.objects / elapsed:.0f}",
                                 bps=_size(self.bytes / elapsed))
