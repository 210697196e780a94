"""selfheal/validators.py: the estate's validators generated at build time are used for exactly the schema they were
made from, by the fastjsonschema that made them; anything else is compiled at first use, as without them."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from selfheal import fields, loader, validators
from selfheal.fields import LOADER, Checker, Field, Int, Render, sections
from selfheal.kinds import buckets
from selfheal.loader import DEFAULT_ESTATE_PATH, estate_fields, load_estate, parse_estate
from selfheal.spec import EstateError
from tests.support.estates import GALERLY
from tests.unit.test_bad_input import CASES

# Its module-scoped fixtures (every bad estate parsed four ways, ~3 s) run once: one worker runs the module (make test:
# --dist loadgroup), not both.
pytestmark = pytest.mark.xdist_group("generated_validators")

# the shipped estate (named on purpose: whatever it declares) and the tests' own
ESTATES = [DEFAULT_ESTATE_PATH, *sorted(GALERLY.parent.glob("*.yaml"))]
GENERATED = "estate_validators_under_test"  # the package written here, as `make build` writes selfheal._validators
MISSING = "estate_validators_never_written"  # a development checkout's: none


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The generated validators, written as `make build` writes them; on the path for the module's tests."""
    root = tmp_path_factory.mktemp("generated")
    written = validators.write(root / GENERATED)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.syspath_prepend(str(root))
        yield written


@pytest.fixture(autouse=True)
def fresh_validators(package: list[str]) -> Iterator[None]:
    """No validator kept from another test, nor left for the next."""
    fields._validator.cache_clear()
    yield
    fields._validator.cache_clear()


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The schema documents fastjsonschema compiles at run time, in order."""
    documents: list[dict[str, Any]] = []
    real = fastjsonschema.compile

    def spy(definition: dict[str, Any], **kwargs: Any) -> Any:
        documents.append(definition)
        return real(definition, **kwargs)

    monkeypatch.setattr(fastjsonschema, "compile", spy)
    return documents


def use(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Validators from `package` (one never written: a development checkout), none kept from before."""
    monkeypatch.setattr(validators, "PACKAGE", package)
    fields._validator.cache_clear()


def document(field: Field) -> dict[str, Any]:
    return Render(LOADER).document(field)


def test_the_build_writes_both_variants_of_every_field_check_is_given(package: list[str]) -> None:
    checked = validators.checked_fields()
    named = {id(f) for f in checked}
    for field in (estate_fields(sections()), buckets.STATEMENTS, loader._DEFAULTED, loader._OVERRIDABLE):
        assert id(field) in named
    assert package == sorted({validators.key(document(f), detailed) for f in checked for detailed in (False, True)})
    assert len(package) == 2 * len({validators.key(document(f), False) for f in checked})


def test_every_check_call_names_a_field_declared_at_module_level() -> None:
    # GIVEN every `.check(value, FIELD, path)` call in the package: its field is a module-level name (read by
    # checked_fields, so generated at build time), or the whole file's (the loader's `top`), never one made on the spot
    root = Path(fields.__file__).parent
    calls = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                    and len(node.args) > 1):
                calls.append((path.relative_to(root).as_posix(), ast.unparse(node.args[1])))
    made_here = {("fields.py", "_mapping(tuple(allowed), tuple(required))"), ("fields.py", "_text(pattern, what)"),
                 ("fields.py", "_int(low, high)")}  # Checker's own shapes, for kinds that check entries by hand
    assert ("loader.py", "top") in calls and ("kinds/buckets.py", "STATEMENTS") in calls
    for where, field in set(calls) - made_here - {("loader.py", "top")}:
        module = __import__(f"selfheal.{where.removesuffix('.py').replace('/', '.')}", fromlist=["_"])
        assert isinstance(getattr(module, field, None), Field), f"{where}: check(..., {field}, ...)"


@pytest.mark.parametrize("path", ESTATES, ids=[p.name for p in ESTATES])
def test_the_shipped_estate_and_every_fixture_load_with_nothing_compiled_at_run_time(
        path: Path, compiled: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, MISSING)
    before = load_estate(path, env={})
    assert compiled  # without the generated validators, compiled as ever
    compiled.clear()
    use(monkeypatch, GENERATED)
    assert load_estate(path, env={}) == before
    assert compiled == []


def test_every_field_checked_by_the_bad_estates_and_the_fixtures_has_its_validators_generated(
        package: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    checked: dict[int, Field] = {}
    real = Checker.check

    def record(self: Checker, value: Any, field: Field, path: str) -> Any:
        checked[id(field)] = field
        return real(self, value, field, path)

    monkeypatch.setattr(Checker, "check", record)
    for _, text, _, _, kwargs in CASES:
        try:
            parse_estate(text, **{"env": {}, **kwargs})
        except EstateError:
            pass
    for path in ESTATES:
        load_estate(path, env={})
    assert {id(buckets.STATEMENTS), id(loader._DEFAULTED), id(loader._OVERRIDABLE)} <= set(checked)
    missing = [f for f in checked.values() if validators.key(document(f), False) not in package
               or validators.key(document(f), True) not in package]
    assert missing == []


@pytest.fixture(scope="module")
def lines(package: list[str]) -> dict[str, dict[str, str]]:
    """Each bad estate's line: as before (the pure parser, validators compiled at run time), with libyaml, with the
    generated validators, and with both (the built function)."""
    out: dict[str, dict[str, str]] = {}
    for variant, libyaml, source in [("before", False, MISSING), ("libyaml", True, MISSING),
                                     ("generated", False, GENERATED), ("built", True, GENERATED)]:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(loader, "LIBYAML", libyaml)
            use(monkeypatch, source)
            out[variant] = {}
            for case, text, _, _, kwargs in CASES:
                with pytest.raises(EstateError) as info:
                    parse_estate(text, source="estate.yaml", **{"env": {}, **kwargs})
                out[variant][case] = str(info.value)
    fields._validator.cache_clear()
    return out


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_a_bad_estate_is_told_in_the_same_line_with_libyaml_and_generated_validators(
        case: str, lines: dict[str, dict[str, str]]) -> None:
    before = lines["before"][case]
    assert (lines["libyaml"][case], lines["generated"][case], lines["built"][case]) == (before, before, before)


def test_a_changed_schema_is_compiled_not_taken_from_the_generated_validators(
        compiled: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    text = "settings: {pool_size: 100}\ntables: [{name: t-one, hash_key: id}]\n"
    top = estate_fields(sections())
    use(monkeypatch, GENERATED)
    with pytest.raises(EstateError, match="settings.pool_size"):
        parse_estate(text, env={})  # 1..64, said by the generated validator
    assert document(top) not in compiled
    # WHEN the field changes after the build (its schema is not the one generated) THEN it is compiled and obeyed
    compiled.clear()
    monkeypatch.setitem(loader.SETTINGS.fields, "pool_size", Int(1, 128, default=16))
    use(monkeypatch, GENERATED)
    assert parse_estate(text, env={}).settings.pool_size == 100
    assert compiled == [document(top)]


def test_another_fastjsonschema_compiles_rather_than_run_code_generated_by_this_one(
        compiled: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, GENERATED)
    expected = load_estate(GALERLY, env={})
    assert compiled == []
    monkeypatch.setattr(fastjsonschema, "VERSION", "0.0.1")
    use(monkeypatch, GENERATED)
    assert load_estate(GALERLY, env={}) == expected
    assert document(estate_fields(sections())) in compiled


def test_a_generated_package_missing_a_module_compiles_that_one(
        compiled: list[dict[str, Any]], package: list[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    # GIVEN a copy of the package without the whole file's quick validator (its index still names it)
    top = validators.key(document(estate_fields(sections())), False)
    copy = tmp_path / "estate_validators_incomplete"
    shutil.copytree(Path(__import__(GENERATED).__file__).parent, copy)
    (copy / f"{top}.py").unlink()
    monkeypatch.syspath_prepend(str(tmp_path))
    use(monkeypatch, copy.name)
    assert load_estate(GALERLY, env={}).tables
    assert compiled == [document(estate_fields(sections()))]


def test_a_development_checkout_compiles_what_it_checks_as_before(
        compiled: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, MISSING)
    load_estate(GALERLY, env={})
    # Galerly's: a var's {default, overridable} and its overridable flag, then the whole file
    assert compiled == [document(f) for f in (loader._DEFAULTED, loader._OVERRIDABLE, estate_fields(sections()))]


def test_a_validator_is_filed_under_its_exact_document_and_variant() -> None:
    doc = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    reordered = {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "string"}}}
    keys = {validators.key(doc, False), validators.key(doc, True), validators.key(reordered, False)}
    assert len(keys) == 3  # the order of the properties is the order they are checked in: which problem is named
    assert validators.key({"minimum": float("nan")}, False) is None  # no JSON: compiled at run time
