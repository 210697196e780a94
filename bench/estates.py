"""Estates for the benchmark: the shipped seed (15 resources) and larger ones of the same shape.

A generated estate repeats the seed's table and bucket declarations with a numeric suffix on every name, keeping the
seed's vars, settings and table defaults, so every resource is declared exactly like one in the shipped estate. The
seed's AWS Backup plan (`backups:`) is left out: the benchmark measures tables and buckets, and a plan of other names'
tables would be a resource of another shape.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEED_PATH = ROOT / "tests" / "fixtures" / "galerly.yaml"  # the tests' own Galerly estate, not the shipped file
BUCKET_SHARE = 2 / 15  # the seed's mix: 13 tables, 2 buckets


def seed_document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SEED_PATH.read_text())
    doc.pop("backups", None)
    return doc


def estate_yaml(size: int) -> str:
    """YAML text of an estate with `size` resources: the seed's tables and buckets for 15, else their shapes
    repeated."""
    doc = seed_document()
    seed_tables, seed_buckets = doc["tables"], doc["buckets"]
    if size == len(seed_tables) + len(seed_buckets):
        return "# The seed's tables and buckets (bench/estates.py).\n" + yaml.safe_dump(doc, sort_keys=False, width=200)
    if size < 2:
        raise ValueError("an estate needs at least 2 resources (one table, one bucket)")
    buckets = max(1, round(size * BUCKET_SHARE))
    tables = size - buckets
    out = copy.deepcopy(doc)
    out["tables"] = [_suffixed(seed_tables[i % len(seed_tables)], i) for i in range(tables)]
    out["buckets"] = [_suffixed(seed_buckets[i % len(seed_buckets)], i) for i in range(buckets)]
    header = f"# Benchmark estate: {tables} tables and {buckets} buckets shaped like the seed's (bench/estates.py).\n"
    return header + yaml.safe_dump(out, sort_keys=False, width=200)


def _suffixed(resource: dict[str, Any], i: int) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    out["name"] = f"{out['name']}-{i:04d}"
    return out
