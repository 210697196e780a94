"""A drill's report on a terminal: one row per resource."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ..report import Report


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 60:.1f} min" if value >= 120 else f"{value:.1f} s"


def render_drill(console: Console, report: Report) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Restore drills", title_justify="left")
    for header in ("resource", "copy", "copy age", "restore", "verified", "scratch removed", "what was found"):
        table.add_column(header)
    for result in report.results:
        r: Any = result
        table.add_row(f"{r.kind} {r.name}", r.copy or "-", _seconds(r.copy_age_seconds), _seconds(r.restore_seconds),
                      "[green]yes[/]" if r.verified else "[red]no[/]",
                      "yes" if r.removed else ("-" if r.scratch is None else "[red]no[/]"),
                      "; ".join([r.reason, *r.notes]))
    console.print(table)
    verified = sum(1 for r in report.results if getattr(r, "verified", False))
    console.print(f"{verified}/{len(report.results)} verified in {report.duration_s:.1f}s")
