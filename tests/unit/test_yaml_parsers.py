"""The estate's YAML is read by libyaml where PyYAML has it, else by the pure-Python parser: the same data and the same
error lines either way (tests/unit/test_bad_input.py runs every bad estate through both)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal import loader
from selfheal.loader import DEFAULT_ESTATE_PATH, load_estate, read_yaml
from selfheal.spec import EstateError
from tests.support.estates import GALERLY

FIXTURES = sorted(GALERLY.parent.glob("*.yaml"))
ESTATES = [DEFAULT_ESTATE_PATH, *FIXTURES]  # the shipped one named on purpose: whatever it declares


def read(text: str, libyaml: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """What the loader makes of a text: ("data", ...) or ("error", its one line)."""
    monkeypatch.setattr(loader, "LIBYAML", libyaml)
    try:
        return "data", read_yaml(text, "estate.yaml")
    except EstateError as exc:
        return "error", str(exc)


@pytest.fixture
def fresh_loaders() -> Iterator[None]:
    """The loaders made again for the test (PyYAML changed under them), and again after it."""
    loader._strict_loaders.cache_clear()
    yield
    loader._strict_loaders.cache_clear()


def test_libyaml_reads_the_estate_wherever_pyyaml_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(re.search(loader._NOT_FOR_LIBYAML, p.read_text(encoding="utf-8")) is None for p in FIXTURES)
    fast, pure = loader._strict_loaders()
    assert (fast is not None) == yaml.__with_libyaml__
    assert issubclass(pure, yaml.SafeLoader) and (fast is None or issubclass(fast, yaml.CSafeLoader))
    used: list[type[Any]] = []
    real = yaml.load
    monkeypatch.setattr(yaml, "load", lambda text, Loader: used.append(Loader) or real(text, Loader=Loader))
    load_estate(GALERLY, env={})
    assert used == [fast or pure]  # read once, by the fastest parser there is


def test_a_pyyaml_without_libyaml_reads_with_the_pure_parser_alone(monkeypatch: pytest.MonkeyPatch,
                                                                  fresh_loaders: None) -> None:
    expected = load_estate(GALERLY, env={})
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)  # as PyYAML built without libyaml has none
    loader._strict_loaders.cache_clear()
    fast, pure = loader._strict_loaders()
    assert fast is None and issubclass(pure, yaml.SafeLoader)
    assert load_estate(GALERLY, env={}) == expected


@pytest.mark.parametrize("path", ESTATES, ids=[p.name for p in ESTATES])
def test_both_parsers_read_the_shipped_estate_and_every_fixture_alike(path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text(encoding="utf-8")
    assert read(text, True, monkeypatch) == read(text, False, monkeypatch)
    monkeypatch.setattr(loader, "LIBYAML", True)
    fast = load_estate(path, env={})
    monkeypatch.setattr(loader, "LIBYAML", False)
    assert fast == load_estate(path, env={})


# Where libyaml reads a text otherwise than the pure parser (each found by the property below without the rule).
DIFFERENT = [
    ("tab-after-a-value", "tables:\n  - name: app-users\t\n    hash_key: id\n"),  # libyaml: accepted
    ("tab-inside-a-value", "vars: {a: x\ty}\ntables: [{name: t-one, hash_key: id}]\n"),  # libyaml: "x\ty"
    ("empty-tag", "vars:\n  a: !\ntables: [{name: t-one, hash_key: id}]\n"),  # libyaml: '', the pure parser: None
    ("comment-after-block-header", "vars:\n  a: |#\n    x\ntables: [{name: t-one, hash_key: id}]\n"),
    ("byte-order-mark-inside", "tables: [{name: t-one, hash_key: id}]\n\ufeff\n"),
]


@pytest.mark.parametrize("text", [c[1] for c in DIFFERENT], ids=[c[0] for c in DIFFERENT])
def test_text_libyaml_reads_otherwise_is_read_by_the_pure_parser(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = loader._strict_loaders()
    try:
        by_libyaml: Any = yaml.load(text, Loader=fast) if fast is not None else None
    except yaml.YAMLError as exc:
        by_libyaml = exc
    pure = read(text, False, monkeypatch)
    assert fast is None or pure != ("data", by_libyaml)  # the difference the rule is there for
    assert read(text, True, monkeypatch) == pure


# Pieces of YAML, ASCII and not: the property below tries their combinations on both parsers.
PIECES = [*"abc019:-[]{}?,'\"#&*|>%@!~\\. \t\r\n", "\n  ", "\n- ", ": ", "key: ", '"x"', "'y'", "- a: 1\n  b: ",
          "|\n  ", ">-\n   ", "{a: [", "]}", "&a ", "*a", "<<: ", "---\n", "...\n", "%YAML 1.1\n", "2024-01-01",
          "2024-13-45", "1e3", "0x1F", "null", "yes", "0o7", ".inf", "? ", "#c\n", "é", "—", "\U0001f600", "\xa0",
          "\x85", "\u2028", "\ufeff", "\x7f"]


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(PIECES), max_size=25))
def test_libyaml_and_the_pure_parser_agree_on_any_text(parts: list[str]) -> None:
    text = "".join(parts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert read(text, True, monkeypatch) == read(text, False, monkeypatch)
