"""The fleet's code zips and its build check, without building anything (tests/e2e/test_fleet_template.py builds the
fleet template itself with the SAM venv's Python, and lints it)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devtools.fleet_template import FleetTemplateError, built_code_dirs, deterministic_zip
from tests.support.fleet_build import ROOT
from tests.support.iam import load_template


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def test_zips_are_byte_identical_whatever_the_files_times(tmp_path: Path) -> None:
    source = tmp_path / "code"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "b.py").write_text("B = 2\n")
    (source / "a.py").write_text("A = 1\n")
    (source / "pkg" / "__pycache__" / "b.cpython-312.pyc").write_bytes(b"\x00stale")
    deterministic_zip(source, tmp_path / "one.zip")
    for path in source.rglob("*"):
        path.touch()  # a new build: same content, new times
    os.utime(source / "a.py", (1_900_000_000, 1_900_000_000))
    deterministic_zip(source, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        assert zf.namelist() == ["a.py", "pkg/b.py"]
    (source / "a.py").write_text("A = 3\n")
    deterministic_zip(source, tmp_path / "three.zip")
    assert (tmp_path / "three.zip").read_bytes() != (tmp_path / "one.zip").read_bytes()


def test_a_missing_or_partial_build_is_named_with_its_fix(tmp_path: Path, source: dict[str, Any]) -> None:
    with pytest.raises(FleetTemplateError, match=r"template.yaml is missing: run `make build` \(sam build\) first"):
        built_code_dirs(source, tmp_path)
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Function: {Type: AWS::Serverless::Function, Properties: {CodeUri: Function}}\n"
        "  DepsLayer: {Type: AWS::Serverless::LayerVersion, Properties: {ContentUri: DepsLayer}}\n"
    )
    (tmp_path / "Function").mkdir()
    (tmp_path / "Function" / "app.py").write_text("")
    with pytest.raises(FleetTemplateError, match=r"DepsLayer's code\) is missing or empty: run `make build` again"):
        built_code_dirs(source, tmp_path)
