"""The tests' own copy of the Galerly estate: a team's estate in place of the shipped one leaves the suite as it is."""

from __future__ import annotations

from pathlib import Path

GALERLY = Path(__file__).resolve().parents[1] / "fixtures" / "galerly.yaml"
