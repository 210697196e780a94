"""The CLI on bad input (the estates of tests/unit/test_bad_input.py, bad arguments): exit 1, one clear line on
stderr, and not a single AWS call — counted by the local AWS, which records every call it gets."""

from __future__ import annotations

import pytest

from tests.support import cli
from tests.support.estates import GALERLY
from tests.unit.test_bad_input import CASES, _set, shipped_with, t0

# ---------------------------------------------------------------------------------------------------------------
# The CLI: exit 1, one clear line on stderr, and not a single AWS call


@pytest.fixture
def run_cli(aws, monkeypatch, capsys):
    """`selfheal ...` in-process against the local AWS endpoint; returns (exit code, stdout, stderr)."""
    monkeypatch.delenv("SELFHEAL_MAX_MISSING_PERCENT", raising=False)
    monkeypatch.setenv("SELFHEAL_ESTATE", str(GALERLY))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)

    return lambda *argv: cli.in_process(capsys, "--endpoint-url", aws.endpoint, *argv)


@pytest.fixture
def bad_estate(tmp_path):
    path = tmp_path / "estate.yaml"
    path.write_text(shipped_with(_set(t0, "pitr", {"recovery_days": 36})))
    return path


FILE_CASES = [c for c in CASES if not c[4]]  # the ones a file alone can express (no --set / environment)


@pytest.mark.parametrize(("text", "path"), [c[1:3] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_every_bad_estate_file_stops_the_cli_with_exit_1_one_line_and_no_aws_call(text, path, run_cli, tmp_path, aws):
    estate = tmp_path / "estate.yaml"
    estate.write_text(text, encoding="utf-8")

    code, out, err = run_cli("--estate", str(estate), "apply")

    assert code == 1
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"selfheal: error: {estate}: ") and f": {path}" in line and " — " in line
    assert aws.calls() == []


CLI_CASES = [
    ("bad-estate-file", ["apply", "--estate", "{bad}"], "tables[0].pitr.recovery_days"),
    ("missing-estate-file", ["plan", "--estate", "{missing}"], "file not found"),
    ("set-without-equals", ["apply", "--set", "prefix"], "expected KEY=VALUE"),
    ("set-undeclared-var", ["apply", "--set", "prefx=x"], "--set prefx: no such variable"),
    ("unknown-command", ["heal"], "invalid choice: 'heal'"),
    ("no-command", [], "a command is required"),
    ("unknown-option", ["apply", "--force"], "unrecognized arguments: --force"),
    ("only-unknown-name", ["apply", "--only", "galerly-user"], "did you mean 'galerly-users'"),
    ("time-budget-negative", ["apply", "--time-budget", "-1"], "--time-budget"),
    ("time-budget-not-a-number", ["apply", "--time-budget", "soon"], "invalid float value"),
    ("delete-wrong-confirmation", ["delete", "--confirm", "delete all tables"], 'pass --confirm "DELETE ALL TABLES"'),
    ("delete-without-confirmation", ["delete"], "delete refused"),
    ("max-missing-env-bad", ["apply", "--guard", "ENV:SELFHEAL_MAX_MISSING_PERCENT=lots"], "is not a number"),
    ("no-estate", ["apply", "ENV:SELFHEAL_ESTATE="],
     "no estate file — pass --estate PATH, set SELFHEAL_ESTATE=PATH, or run where ./estate.yaml is"),
    ("env-undeclared-var", ["plan", "ENV:SELFHEAL_VAR_PREFX=acme"],
     "SELFHEAL_VAR_PREFX: no such variable in the estate — unset SELFHEAL_VAR_PREFX, or declare 'prefx'"),
    ("env-renames-a-fixed-var", ["plan", "--estate", "{fixed}", "ENV:SELFHEAL_VAR_PREFIX=acme"],
     "SELFHEAL_VAR_PREFIX=acme: var prefix names the estate's resources (${prefix}-users"),
    ("set-renames-a-fixed-var", ["plan", "--estate", "{fixed}", "--set", "prefix=acme"],
     "--set prefix=acme: var prefix names the estate's resources"),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_exits_1_with_one_line_and_no_aws_call(
    run_cli, aws, bad_estate, tmp_path, monkeypatch, argv, expected
):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # no ./estate.yaml here
    fixed = tmp_path / "fixed.yaml"  # the Galerly estate with its prefix not overridable
    fixed.write_text(shipped_with(lambda d: d["vars"].update(prefix="galerly")))
    args = []
    for arg in argv:
        if arg.startswith("ENV:"):
            name, _, value = arg[4:].partition("=")
            monkeypatch.setenv(name, value)
            continue
        args.append(arg.format(bad=bad_estate, missing=tmp_path / "nope.yaml", fixed=fixed))
    code, out, err = run_cli(*args)
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("selfheal: error: ")
    assert expected in lines[0]
    assert aws.calls() == []


def test_cli_bad_estate_names_the_file(run_cli, bad_estate):
    code, _, err = run_cli("status", "--estate", str(bad_estate))
    assert code == 1
    assert f"{bad_estate}: tables[0].pitr.recovery_days: " in err


def test_the_same_endpoint_records_calls_for_good_input(run_cli, aws):
    """Control: the zero-call assertions above would catch a call, since this endpoint records them."""
    code, _, err = run_cli("status", "--only", "galerly-users", "--json")
    assert code == 0, err
    assert any(c["operation"] == "DescribeTable" and c["name"] == "galerly-users" for c in aws.calls())
    assert aws.writes() == []


def test_recover_reads_no_estate_so_it_runs_where_none_is_named(run_cli, aws, tmp_path, monkeypatch):
    # GIVEN no --estate, no SELFHEAL_ESTATE and no ./estate.yaml: recover works on a bucket, not on an estate
    monkeypatch.delenv("SELFHEAL_ESTATE")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("recover", "no-such-bucket", "--to", "2026-01-01T00:00:00Z", "--dry-run")
    # THEN it gets as far as AWS (the bucket is not there), never asking for an estate file
    assert code == 1 and "no estate file" not in err and "no-such-bucket" in err, err
    # (the account id first: every S3 call names the bucket's expected owner)
    assert [c["operation"] for c in aws.calls() if c["operation"] != "GetCallerIdentity"][:1] == ["HeadBucket"]
