"""A kind's estate section is declared once (selfheal/fields.py): the loader validates with it and the editors' schema
is rendered from it; the loader and the kinds reach each other only through that neutral vocabulary."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from selfheal import schema
from selfheal.fields import EDITOR, LOADER, Checker, Choice, Int, Obj, Render, Text, Union, explain, region_field
from selfheal.kinds import Kind, register, unregister
from selfheal.loader import FIELDS, parse_estate
from selfheal.spec import EstateError

PACKAGE = Path(__file__).parents[2] / "functions" / "selfheal" / "selfheal"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    region: str
    retention_days: int = 7
    kind: ClassVar[str] = "topic"


class TopicKind(Kind[TopicSpec, Any]):
    """A kind whose section is declared, not checked by hand: nothing else is needed for it to load."""

    name = "topic"
    section = "topics"
    title = "Topics"
    spec_type = TopicSpec
    services = ("sns",)
    fields = Obj("topic", {
        "name": Text(r"[A-Za-z0-9_-]{1,256}", "a topic name of letters, digits, _ -"),
        "region": region_field("AWS region"),
        "retention_days": Int(1, 14),
        "delivery": Union(Choice(("fast", "safe")), Obj("delivery", {"retries": Int(0, 100)}), otherwise=0),
    }, required=("name",), description="a topic")

    def load(self, parser: Checker, raw: Any, path: str, region: str) -> TopicSpec:
        if raw.get("retention_days", 7) > 7 and raw.get("delivery") == "fast":  # a rule across fields: by hand
            parser.fail(f"{path}.retention_days", "fast delivery keeps a week at most", "use 1..7 or delivery: safe")
        return TopicSpec(raw["name"], raw.get("region", region), raw.get("retention_days", 7))


@pytest.fixture
def topics():
    kind = register(TopicKind())
    yield kind
    unregister(kind.name)


def load(text: str) -> Any:
    return parse_estate(text, source="estate.yaml", env={})


def test_a_declared_section_loads_with_the_region_var_filled_in(topics):
    estate = load("vars: {region: eu-west-1}\ntopics: [{name: orders, retention_days: 3}]\n")
    assert estate.section("topics") == (TopicSpec("orders", "eu-west-1", 3),)
    assert estate.resources == estate.section("topics")
    assert estate.tables == () and estate.buckets == ()


@pytest.mark.parametrize(("entry", "path", "fragment"), [
    ("{name: 'bad name'}", "topics[0].name", "is not a topic name"),
    ("{name: t, retention_days: 30}", "topics[0].retention_days", "from 1 to 14, got 30"),
    ("{name: t, delivery: quick}", "topics[0].delivery", "'quick' is not allowed"),
    ("{name: t, delivery: {retries: -1}}", "topics[0].delivery.retries", "from 0 to 100"),
    ("{name: t, delivery: {retry: 1}}", "topics[0].delivery.retry", "did you mean 'retries'"),
    ("{retention_days: 3}", "topics[0].name", "missing"),
    ("{name: null}", "topics[0].name", "missing"),
    ("{name: t, region: mars}", "topics[0].region", "'mars' is not an AWS region"),
    ("{name: t, retention_days: 9, delivery: fast}", "topics[0].retention_days", "a week at most"),
])
def test_a_declared_section_is_explained_by_its_fields(topics, entry, path, fragment):
    with pytest.raises(EstateError) as info:
        load(f"topics: [{entry}]\n")
    assert info.value.path == path
    assert fragment in str(info.value)


def test_two_entries_of_one_name_are_refused_for_every_kind_alike(topics):
    with pytest.raises(EstateError) as info:
        load("topics: [{name: t}, {name: t}]\n")
    assert info.value.path == "topics[1].name" and "topic 't' is declared twice" in str(info.value)


def test_a_declared_section_is_in_the_editors_schema_from_the_same_declaration(topics):
    built = schema.build()
    assert built["properties"]["topics"]["anyOf"][0]["items"] == {"$ref": "#/definitions/topic"}
    assert list(built["definitions"]["topic"]["properties"]) == list(FIELDS["topic"])
    validator = jsonschema.Draft7Validator(built)
    assert not list(validator.iter_errors({"topics": [{"name": "t", "delivery": {"retries": 3}}]}))
    assert list(validator.iter_errors({"topics": [{"name": "t", "delivery": {"retries": 300}}]}))
    assert not list(validator.iter_errors({"topics": [{"name": "${prefix}-t"}]}))  # a var is for the loader to read


def test_the_editor_schema_takes_vars_and_hints_the_loader_does_not():
    text = Text(r"[a-z]+", "lowercase")
    assert explain(text, "${x}", "f") is not None  # a resolved file holds no placeholder
    jsonschema.validate("${x}", Render(EDITOR).document(text))
    table = Obj("t", {"a": Int(0, 1)}, hints={"required": ["a"]})
    assert "required" not in Render(LOADER).document(table)["definitions"]["t"]
    assert Render(EDITOR).document(table)["definitions"]["t"]["required"] == ["a"]


def test_a_shape_used_twice_is_one_definition_of_the_loaders_schema():
    shared = Union(Choice(("a", "b")), Int(0, 9))
    document = Render(LOADER).document(Obj(None, {"x": shared, "y": shared}))
    assert document["properties"]["x"] == document["properties"]["y"] == {"$ref": "#/definitions/shape0"}
    assert explain(Obj(None, {"x": shared, "y": shared}), {"x": "a", "y": 12}, "") == (
        "y", "expected a whole number from 0 to 9, got 12", "use 0..9")


def _imports(path: Path) -> set[str]:
    """The selfheal modules a file imports, as package-relative names (`loader`, `kinds.base`, ...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(PACKAGE).parts) - 1
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(PACKAGE).parent.parts)[: depth - node.level + 1]
                found.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
            elif (node.module or "").startswith("selfheal."):
                found.add(node.module.removeprefix("selfheal."))  # type: ignore[union-attr]
    return found


def test_the_loader_and_the_kinds_do_not_import_each_other():
    loader = _imports(PACKAGE / "loader.py") | _imports(PACKAGE / "fields.py")
    assert not {m for m in loader if m == "kinds" or m.startswith("kinds.")}, loader
    for module in (PACKAGE / "kinds").glob("*.py"):
        assert "loader" not in _imports(module), module.name
