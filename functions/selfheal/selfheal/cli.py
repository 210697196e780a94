"""The `selfheal` command: status | plan | apply | delete over the same engine the Lambda runs; import | schema;
fleet (the central store of a fleet's run events); recover (a bucket's objects as at a time: recover/command.py)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from . import __version__

# What a command needs is imported by that command: a lone `--version` imports none of it.
TYPE_CHECKING = False  # typing itself is not imported at run time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_PENDING = 0, 1, 2


class UsageError(Exception):
    """A bad command line: exit 1 with the message, before any AWS call."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2, which `plan` uses for "changes pending"
        raise UsageError(f"{message} — see `{self.prog} --help`")


def _common() -> _Parser:
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    g = common.add_argument_group("estate and AWS")
    g.add_argument(
        "--estate", metavar="PATH", help="estate file (default: $SELFHEAL_ESTATE, else ./estate.yaml); "
        "`--estate shipped` names the Galerly estate shipped with selfheal"
    )
    g.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        dest="sets",
        help="override a var of the estate, e.g. --set prefix=staging (repeatable)",
    )
    g.add_argument("--region", help="default AWS region, and the estate's `region` var")
    g.add_argument(
        "--endpoint-url", metavar="URL", help="AWS endpoint (default: $AWS_ENDPOINT_URL), e.g. a moto server"
    )
    g.add_argument("--only", metavar="NAME", nargs="+", help="act on these resources only")
    g.add_argument("--json", action="store_true", help="print one machine-readable JSON report on stdout")
    return common


def _aws_options() -> _Parser:
    aws = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    g = aws.add_argument_group("AWS")
    g.add_argument("--region", help="the region to read (default: $AWS_REGION, else us-east-1)")
    g.add_argument(
        "--endpoint-url", metavar="URL", help="AWS endpoint (default: $AWS_ENDPOINT_URL), e.g. a moto server"
    )
    return aws


IMPORT_EXAMPLE = """
  selfheal import --prefix galerly --bucket galerly-frontend-app galerly-images-storage -o estate.yaml
  selfheal plan --estate estate.yaml     # exit 0: the estate declares exactly what is there
"""


def _import_selection(imp: _Parser) -> None:
    """`import`'s selection flags, one per kind that imports, and the reads they need."""
    import textwrap  # noqa: PLC0415

    from .kinds import kinds  # noqa: PLC0415

    chosen = [k for k in kinds() if k.importable]
    by_prefix = " and ".join(k.section for k in chosen if k.selects_by_prefix) or "resources"
    imp.add_argument("--prefix", metavar="P", help=f"the {by_prefix} named P-* (declared as ${{prefix}}-...)")
    for kind in chosen:
        imp.add_argument(f"--{kind.name}", metavar="NAME", nargs="+", action="extend", dest=f"import_{kind.name}",
                         help=f"these {kind.section}")
    needs = [p for k in chosen for p in k.import_permissions]
    imp.epilog = "\n".join(textwrap.wrap(
        "Reads only, with your own credentials (not the function's role): besides the reads the role has, it needs "
        f"{', '.join(needs[:-1])} and {needs[-1]}.", width=118)) + "\n" + IMPORT_EXAMPLE if needs else IMPORT_EXAMPLE


def build_parser() -> _Parser:
    from .teardown import confirmation, deletable  # noqa: PLC0415 - the registered kinds say what delete deletes

    common = _common()
    parser = _Parser(
        prog="selfheal",
        parents=[common],
        description="Keep DynamoDB tables and S3 buckets exactly as declared: restore before create, "
        "repair drift, never destroy.",
    )
    parser.add_argument("--version", action="version", version=f"selfheal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("status", parents=[common], help="what exists now, resource by resource")
    sub.add_parser(
        "plan", parents=[common], help="what apply would do (exit 0 in sync, 2 changes pending, 1 conflicts or errors)"
    )
    apply = sub.add_parser("apply", parents=[common], help="heal: restore, create, repair (exit 0 when all healthy)")
    apply.add_argument(
        "--no-restore", action="store_true", help="create missing resources empty even when a copy exists"
    )
    apply.add_argument(
        "--time-budget", type=float, metavar="SECONDS", help="defer resources not started within this time"
    )
    apply.add_argument(
        "--guard", action="store_true", help="stop like a scheduled run when too much of the estate is missing"
    )
    apply.add_argument(
        "--no-wait", action="store_true",
        help="start restores and move on (report them `restoring`) instead of waiting for them within the budget",
    )
    apply.add_argument(
        "--restore-role", metavar="ARN",
        help="IAM role AWS Backup assumes to restore a table whose newest copy is an AWS Backup recovery point",
    )
    drill = sub.add_parser(
        "drill", parents=[common],
        help="restore each table's and bucket's newest copy under a scratch name, verify it, time it, remove it "
        "(exit 0 when every drill verified)",
        description="For each table and bucket (or --only those): its newest copy restored as "
        "<name>-drill-<yyyymmddhhmm>, waited for, checked against the resource (tables: item count, keys, indexes; "
        "buckets: a sample of objects' "
        "SHA-256), then deleted. The declared resources are only read. docs/recovery.md#drills",
    )
    drill.add_argument(
        "--restore-role", metavar="ARN",
        help="IAM role AWS Backup assumes to restore a recovery point (a bucket's AWS Backup copy, say)",
    )
    doomed = ", ".join(kind.section for kind in deletable())
    delete = sub.add_parser(
        "delete", parents=[common], help=f"keep a copy of, then delete, the estate's {doomed} (never another kind)"
    )
    delete.add_argument("--confirm", metavar="TEXT", help=f'must be exactly "{confirmation()}"')
    delete.add_argument(
        "--disable-protection",
        action="store_true",
        help="lift deletion protection where a resource has it, instead of refusing it",
    )
    imp = sub.add_parser(
        "import",
        parents=[_aws_options()],
        help="write an estate file declaring the resources of a live account (reads only)",
        description="Write the estate file that declares the selected resources as they are: defaults left out, "
        "settings they share in defaults (table_defaults), `# found:` comments for what the estate cannot declare.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _import_selection(imp)
    imp.add_argument("-o", "--output", metavar="FILE", help="write the estate here (default: stdout)")
    imp.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    imp.add_argument(
        "--schema-ref",
        metavar="PATH_OR_URL",
        help="the schema the file's first line names for editors (default: the installed estate.schema.json)",
    )
    sub.add_parser("schema", help="print the JSON Schema of the estate file (editors validate and complete with it)")
    fleet = sub.add_parser(
        "fleet",
        parents=[_aws_options()],
        help="the latest run of every account and region of a fleet, from its central store (reads only)",
        description="One row per account and region: the latest run event in the central run log (fleet/central.yaml), "
        "its outcome counts and the resources in error. Exit 0 when every last run ended without an error, a "
        "conflict or the guard stopping it, and is recent; 1 otherwise, or when no run was found. docs/fleet.md",
    )
    fleet.add_argument("--log-group", metavar="NAME", default=argparse.SUPPRESS,
                       help="the central run log (default: /aws/events/selfheal-fleet, central.yaml's RunLogGroup)")
    fleet.add_argument("--since", metavar="AGE", default=argparse.SUPPRESS,
                       help="read run events this far back, e.g. 7d, 36h, 90m (default: 7d)")
    fleet.add_argument("--stale-after", metavar="AGE", default=argparse.SUPPRESS,
                       help="a last run older than this is stale (default: 26h, a nightly run and two hours)")
    fleet.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the rows as JSON")
    from .recover import command as recover_command  # noqa: PLC0415 - stdlib only at import

    recover_command.add_parser(sub, _aws_options())
    return parser


SHIPPED = "shipped"  # `--estate shipped`: the Galerly estate inside the package, only ever when named


def _estate_path(given: str | None) -> Path:
    """--estate, else $SELFHEAL_ESTATE, else ./estate.yaml: never the shipped estate unless it is named."""
    from pathlib import Path  # noqa: PLC0415

    from .loader import DEFAULT_ESTATE_PATH, ENV_ESTATE  # noqa: PLC0415

    chosen = given or os.environ.get(ENV_ESTATE) or ""
    if chosen == SHIPPED:
        return DEFAULT_ESTATE_PATH
    if chosen:
        return Path(chosen)
    if Path("estate.yaml").is_file():
        return Path("estate.yaml")
    raise UsageError(f"no estate file — pass --estate PATH, set {ENV_ESTATE}=PATH, or run where ./estate.yaml is "
                     "(`selfheal import` writes one; `--estate shipped` names the shipped Galerly example)")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except UsageError as exc:
        print(f"selfheal: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        from .spec import EstateError  # noqa: PLC0415 - imported already by whatever raised one

        if not isinstance(exc, EstateError):
            raise
        print(f"selfheal: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("selfheal: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:  # as argparse would print it, without the parser, whose delete help imports every kind
        print(f"selfheal {__version__}")
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        raise UsageError("a command is required: status, plan, apply, drill, delete, import, schema, fleet or recover")

    def opt(name: str, default: Any = None) -> Any:  # options may come before or after the command
        return getattr(args, name, default)

    if args.command in ("fleet", "recover"):
        for flag, name in (("--estate", "estate"), ("--set", "sets"), ("--only", "only")):
            if opt(name) is not None:
                raise UsageError(f"{flag}: not an option of {args.command} — leave it out")
        if args.command == "recover":
            from .recover import command as recover_command  # noqa: PLC0415

            return recover_command.run(opt)
        return _fleet(opt)
    if args.command in ("import", "schema"):
        for flag, name in (("--estate", "estate"), ("--set", "sets"), ("--only", "only"), ("--json", "json")):
            if opt(name) is not None:
                raise UsageError(f"{flag}: not an option of {args.command} — leave it out")
        if args.command == "schema":
            from .schema import render  # noqa: PLC0415

            sys.stdout.write(render())
            return EXIT_OK
        return _import(opt)
    from .loader import load_estate  # noqa: PLC0415

    soft = {"region": opt("region")} if opt("region") else {}
    whole = load_estate(_estate_path(opt("estate")), overrides=_overrides(opt("sets") or []), soft_overrides=soft)
    estate = whole.only(tuple(opt("only") or ()))
    if opt("time_budget") is not None and opt("time_budget") <= 0:
        raise UsageError("--time-budget: must be a positive number of seconds")
    role = opt("restore_role")
    if role is not None and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$", role):
        raise UsageError(f"--restore-role {role!r}: expected an IAM role ARN, e.g. "
                         "arn:aws:iam::123456789012:role/selfheal-backup-restore")
    if args.command == "delete":
        return _delete(args, estate, opt)
    if args.command == "drill":
        return _drill(whole, opt)

    from .aws import Clients  # noqa: PLC0415
    from .engine import Engine, Options  # noqa: PLC0415

    session, _ = _session(opt)
    clients = Clients(session=session, endpoint_url=opt("endpoint_url"))
    as_json = bool(opt("json"))
    view = _View(as_json)
    options = Options(
        trigger="cli",
        restore=not opt("no_restore", False),
        time_budget_seconds=opt("time_budget"),
        guard=True if opt("guard") else None,
        wait_for_restores=not opt("no_wait", False),
        restore_role=opt("restore_role"),
        progress=view.progress,
    )
    engine = Engine(estate, clients, options)
    with view.running(args.command, len(estate.resources)):
        report = engine.run(args.command)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        view.render(report)
    return int(report.exit_code)


def _drill(estate: Any, opt: Any) -> int:
    """`selfheal drill`: bad input (no copy, a scratch name AWS would refuse) is one line, exit 1, before any write."""
    from .aws import Clients  # noqa: PLC0415
    from .drill import DrillProblem, run_drill  # noqa: PLC0415

    session, _ = _session(opt)
    clients = Clients(session=session, endpoint_url=opt("endpoint_url"))
    try:
        report = run_drill(estate, clients, only=tuple(opt("only") or ()), restore_role=opt("restore_role"))
    except DrillProblem as exc:
        raise UsageError(str(exc)) from None
    if opt("json"):
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        from rich.console import Console  # noqa: PLC0415

        from .drill.render import render_drill  # noqa: PLC0415

        render_drill(Console(highlight=False), report)
    return int(report.exit_code)


def _session(opt: Any) -> tuple[Any, str]:
    """A boto3 Session in the chosen region, and that region; no credentials at all is a usage error."""
    import boto3  # noqa: PLC0415 - keeps `--help` and estate errors fast

    region = opt("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise UsageError(
            "no AWS credentials found: configure a profile (aws configure) or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    return session, region


def _import(opt: Any) -> int:
    """`selfheal import`: bad input is one line naming the flag, before any AWS call where it can be."""
    from .aws import AWS_ERRORS, OPERATOR_AGENT, Clients  # noqa: PLC0415
    from .importer import (  # noqa: PLC0415
        ImportProblem,
        Selection,
        aws_problem,
        check_selection,
        count,
        import_estate,
        importable,
    )

    prefix = opt("prefix")
    names = {k.name: tuple(dict.fromkeys(opt(f"import_{k.name}") or ())) for k in importable()}
    try:
        check_selection(prefix, names)
    except ImportProblem as exc:
        raise UsageError(str(exc)) from None
    from pathlib import Path  # noqa: PLC0415

    output = Path(opt("output")) if opt("output") else None
    if output is not None:
        if output.is_dir():
            raise UsageError(f"-o {output}: is a directory — name a file, e.g. -o {output / 'estate.yaml'}")
        if output.exists() and not opt("force"):
            raise UsageError(f"-o {output}: the file exists — pass --force to overwrite it, or choose another file")
        if not output.resolve().parent.is_dir():
            raise UsageError(f"-o {output}: no directory {output.parent} — create it first")
    session, region = _session(opt)
    clients = Clients(session=session, region=region, endpoint_url=opt("endpoint_url"), user_agent=OPERATOR_AGENT)
    selection = Selection(region, prefix, names)
    try:
        imported = import_estate(clients, selection, opt("schema_ref") or _schema_ref(output))
    except ImportProblem as exc:
        raise UsageError(str(exc)) from None
    except AWS_ERRORS as exc:
        raise UsageError(f"import: {aws_problem(exc)} — use credentials that may read the selected resources "
                         "(`selfheal import --help` lists the permissions)") from None
    if output is None:
        sys.stdout.write(imported.text)
    else:
        try:
            with output.open("w" if opt("force") else "x", encoding="utf-8") as f:
                f.write(imported.text)
        except FileExistsError:
            raise UsageError(f"-o {output}: the file exists — pass --force to overwrite it") from None
    found = f"; read its {count(imported.found, '`# found:` line')}" if imported.found else ""
    print(f"selfheal: imported {imported.what}{f' into {output}' if output else ''}{found}", file=sys.stderr)
    return EXIT_OK


def _fleet(opt: Any) -> int:
    """`selfheal fleet`: the central store's latest run per account and region; bad input before any AWS call."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from . import fleet  # noqa: PLC0415
    from .aws import AWS_ERRORS, OPERATOR_AGENT, Clients, error_code, explain  # noqa: PLC0415

    ages = {}
    for flag, name, default in (("--since", "since", "7d"), ("--stale-after", "stale_after", "26h")):
        try:
            ages[name] = fleet.parse_age(opt(name) or default)
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    log_group = opt("log_group") or fleet.DEFAULT_LOG_GROUP
    if not re.fullmatch(r"[A-Za-z0-9_./#-]{1,512}", log_group):
        raise UsageError(f"--log-group {log_group!r}: not a log group name — e.g. {fleet.DEFAULT_LOG_GROUP}")
    session, region = _session(opt)
    # The operator's own credentials in the central account, never a member's function role.
    clients = Clients(session=session, region=region, endpoint_url=opt("endpoint_url"), user_agent=OPERATOR_AGENT)
    since = datetime.now(UTC) - ages["since"]
    try:
        view = fleet.fleet_view(fleet.read_run_events(clients.client("logs"), log_group, since),
                                stale_after=ages["stale_after"])
    except AWS_ERRORS as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise UsageError(f"--log-group {log_group}: no such log group in {region} — deploy fleet/central.yaml "
                             "there (its RunLogGroup output names it), or pass --log-group / --region") from None
        raise UsageError(explain(exc, "logs:FilterLogEvents", f"log group {log_group}")) from None
    if opt("json"):
        print(json.dumps({"log_group": log_group, "region": region, "since": since.isoformat(timespec="seconds"),
                          **view.to_dict()}, indent=2))
    else:
        from rich.console import Console  # noqa: PLC0415

        fleet.render(Console(highlight=False), view, log_group, since)
    return fleet.exit_code(view)


def _schema_ref(output: Path | None) -> str:
    """Where the imported file's first line points editors: the installed schema, relative to the file when both
    live under one directory (a project and its venv), else by absolute path."""
    from pathlib import Path  # noqa: PLC0415

    from .loader import SCHEMA_FILE, shipped_file  # noqa: PLC0415

    schema = shipped_file(SCHEMA_FILE).resolve()
    if output is None:
        return schema.as_posix()
    folder = output.resolve().parent
    try:
        if os.path.commonpath([schema, folder]) != schema.anchor:
            return Path(os.path.relpath(schema, folder)).as_posix()
    except ValueError:  # another drive
        pass
    return schema.as_posix()


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set prefix=staging")
        out[key.strip()] = value
    return out


def _delete(args: argparse.Namespace, estate: Any, opt: Any) -> int:
    from .aws import OPERATOR_AGENT, Clients  # noqa: PLC0415
    from .teardown import confirmation, delete_all, doomed  # noqa: PLC0415

    confirm, expected = opt("confirm"), confirmation()
    if confirm is None and sys.stdin.isatty():
        specs = doomed(estate)
        print(f"This deletes {len(specs)} resources ({', '.join(f'{s.kind} {s.name}' for s in specs)}) after a copy of "
              "each is made.", file=sys.stderr)
        confirm = input(f'Type "{expected}" to go on: ')
    if confirm != expected:
        raise UsageError(f'delete refused: pass --confirm "{expected}" exactly (or type it at the prompt)')
    # The operator's own credentials, never the function's role (which holds no delete permission).
    clients = Clients(region=opt("region"), endpoint_url=opt("endpoint_url"), user_agent=OPERATOR_AGENT)
    results = delete_all(
        estate, clients, disable_protection=bool(opt("disable_protection")), say=lambda m: print(m, file=sys.stderr)
    )
    if opt("json"):
        print(json.dumps([r.__dict__ for r in results], indent=2))
    else:
        for r in results:
            extra = f" — backup {r.backup} (restore with `selfheal apply`)" if r.backup else f" — {r.reason}"
            print(f"{r.name}: {r.outcome}{extra}")
    return EXIT_OK if all(r.outcome in ("deleted", "missing") for r in results) else EXIT_FAILED


class _View:
    """Terminal rendering with rich; silent progress when printing JSON or not on a terminal."""

    def __init__(self, as_json: bool) -> None:
        from rich.console import Console  # noqa: PLC0415

        self.console = Console(stderr=as_json, highlight=False)
        self.err = Console(stderr=True, highlight=False)
        self.as_json = as_json
        self._progress: Any = None
        self._task: Any = None
        self._counted = "observe"

    def running(self, command: str, total: int) -> Any:
        from contextlib import nullcontext  # noqa: PLC0415

        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn  # noqa: PLC0415

        if not self.err.is_terminal:
            return nullcontext()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            console=self.err,
            transient=True,
        )
        self._counted = "done" if command == "apply" else "observe"
        verb = {"apply": "healing", "plan": "planning", "status": "observing"}[command]
        self._task = self._progress.add_task(verb, total=total)
        return self._progress

    def progress(self, event: str, kind: str, name: str) -> None:
        if self._progress is None:
            return
        if event == self._counted:
            self._progress.update(self._task, advance=1)
        elif event in ("apply", "wait"):
            waiting = " (waiting for ACTIVE)" if event == "wait" else ""
            self._progress.update(self._task, description=f"healing {kind} {name}{waiting}")

    def render(self, report: Any) -> None:
        from .render import render_report  # noqa: PLC0415

        render_report(self.console, report)


if __name__ == "__main__":
    sys.exit(main())
