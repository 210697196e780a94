"""How the CLI draws a Report on a terminal (rich tables). The Lambda logs JSON instead."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .kinds import Column, kinds
from .model import HEALED, OBJECTIVE, Outcome, ResourceResult
from .report import Report

STYLE = {
    Outcome.OK: "green",
    Outcome.CREATED: "cyan",
    Outcome.RESTORED: "cyan",
    Outcome.REPAIRED: "cyan",
    Outcome.PENDING: "yellow",
    Outcome.DEFERRED: "yellow",
    Outcome.RESTORING: "magenta",
    Outcome.IN_PROGRESS: "magenta",
    Outcome.CONFLICT: "red",
    Outcome.ERROR: "bold red",
}


def render_report(console: Console, report: Report) -> None:
    if report.action == "status":
        _status_tables(console, report)
    else:
        _changes_table(console, report)
    if report.guard:
        console.print(f"[{'bold red' if report.guard_tripped else 'yellow'}]{escape(report.guard)}[/]")
    console.print(_summary_line(report))


def _state(result: ResourceResult) -> str:
    if result.outcome is Outcome.OK:
        text = "in sync"
    elif result.outcome is Outcome.PENDING:
        text = "missing" if _missing(result) else "drifted"
    else:
        text = result.outcome.value
    return f"[{STYLE[result.outcome]}]{text}[/]"


def _missing(result: ResourceResult) -> bool:
    return any(c.path == result.kind and c.old == "missing" for c in result.changes)


def _yes(value: Any) -> str:
    if value is None:
        return "-"
    return "[green]on[/]" if value else "[red]off[/]"


def _cell(column: Column, details: dict[str, Any]) -> str:
    value = details.get(column.detail)
    if column.show == "switch":
        return _yes(value) if column.detail in details else "-"
    if column.show == "names":
        return escape(", ".join(str(v or "?") for v in value)) if value else "-"
    return _text(value)


def _status_tables(console: Console, report: Report) -> None:
    """What is wrong first, then one table per kind (the kind's own columns), in the registry's order."""
    for r in report.results:
        if r.outcome not in (Outcome.OK, Outcome.PENDING) and r.reason:
            console.print(f"[{STYLE[r.outcome]}]{escape(r.name)}: {escape(r.reason)}[/]")
        for note in (n for n in r.notes if n.startswith(OBJECTIVE)):  # copies short of it, until apply repairs them
            console.print(f"[{STYLE[Outcome.PENDING]}]{escape(r.name)}: {escape(note)}[/]")
    for kind in kinds():
        rows = [r for r in report.results if r.kind == kind.name]
        if not rows:
            continue
        table = Table(title=kind.title, title_justify="left")
        table.add_column(kind.name)
        table.add_column("state")
        for column in kind.columns:
            table.add_column(column.header, justify=column.justify)
        recoverable = any(r.recovery is not None for r in rows)  # a kind that holds data: what a deletion would lose
        if recoverable:
            table.add_column("deletion now loses")
        for r in rows:
            loses = [_text(r.recovery.loses if r.recovery else None)] if recoverable else []
            table.add_row(escape(r.name), _state(r), *(_cell(c, r.details) for c in kind.columns), *loses)
        console.print(table)


def _text(value: Any) -> str:
    return "-" if value is None else escape(str(value))


def _changes_table(console: Console, report: Report) -> None:
    table = Table(title=f"selfheal {report.action}", title_justify="left")
    table.add_column("resource")
    table.add_column("outcome")
    table.add_column("changes and reasons")
    for r in report.results:
        if r.outcome is Outcome.OK and not r.notes:
            continue  # the summary line counts them
        lines = [escape(str(c)) for c in r.changes]
        if r.reason and r.outcome not in (Outcome.OK, *HEALED, Outcome.PENDING):
            lines.append(f"[{STYLE[r.outcome]}]{escape(r.reason)}[/]")
        lines += [f"[dim]{escape(n)}[/]" for n in r.notes]
        label = "would change" if r.outcome is Outcome.PENDING else r.outcome.value
        table.add_row(f"{r.kind} {escape(r.name)}", f"[{STYLE[r.outcome]}]{label}[/]", "\n".join(lines) or "-")
    if table.row_count:
        console.print(table)


def _summary_line(report: Report) -> str:
    s = report.summary
    parts = [f"{s['checked']} checked"]
    for key in ("ok", "pending", "created", "restored", "repaired", "restoring", "in_progress", "deferred",
                "conflict", "error"):
        if s[key]:
            label = {"ok": "in sync", "pending": "to change", "in_progress": "in progress"}.get(key, key)
            parts.append(f"{s[key]} {label}")
    calls = report.api_calls
    tail = f" · {calls.get('reads', 0)} reads, {calls.get('writes', 0)} writes" if calls else ""
    return f"[bold]{', '.join(parts)}[/]{tail} · {report.duration_s:.1f}s"
