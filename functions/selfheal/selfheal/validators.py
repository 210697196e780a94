"""The estate's validators as Python source, generated at build time, so a cold start does not compile them.

fastjsonschema turns a schema into Python source and runs it (`exec`): ~55 ms of a cold start for the three schemas
the shipped estate is checked against. `make build` writes that source (fastjsonschema's `compile_to_code`) into the
built function instead, one module per schema and variant (quick, or detailed errors) in the package `_validators`
beside this module, which compileall then turns into bytecode. `generated` answers with a module's validator only for
exactly the schema document it was made from (its sha256) and the fastjsonschema it was made with; anything else — a
development checkout (nothing generated), a field changed since, another fastjsonschema — is compiled at first use,
as without it.

The schemas are those `Checker.check` is given (`checked_fields`): the whole file's, and each field a `check` call
names, as declared at module level. A field made on the spot at a `check` call is compiled at run time instead: declare
it at module level.

    python -m selfheal.validators [OUT_DIR]   (the Makefile runs it with the built layer and function on the path)
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .fields import LOADER, Field, Render, sections

PACKAGE = f"{__package__}._validators"
OUT_DIR = Path(__file__).with_name("_validators")
ENTRY = "validate"  # the function fastjsonschema names for a schema's root (one without $id)


def key(document: dict[str, Any], detailed: bool) -> str | None:
    """What a generated validator is filed under: the sha256 of the schema document as JSON, in its own order (the
    order of the properties is the order they are checked in, so which problem is named first), and its variant."""
    try:
        text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None  # not a JSON document: compiled at run time
    return f"{'detailed' if detailed else 'quick'}_{hashlib.sha256(text.encode()).hexdigest()}"


def generated(document: dict[str, Any], detailed: bool) -> Callable[[Any], Any] | None:
    """The validator generated at build time for exactly this document and variant, by the fastjsonschema here;
    None where there is none."""
    try:
        index = importlib.import_module(PACKAGE)
    except ImportError:
        return None  # a development checkout: nothing generated
    import fastjsonschema  # noqa: PLC0415 - light, and imported by every validator anyway

    name = key(document, detailed)
    if getattr(index, "FASTJSONSCHEMA", None) != fastjsonschema.VERSION or name not in getattr(index, "MODULES", ()):
        return None
    try:
        found = getattr(importlib.import_module(f"{PACKAGE}.{name}"), ENTRY, None)
    except ImportError:
        return None  # indexed but not shipped
    return found if callable(found) else None


def checked_fields() -> tuple[Field, ...]:
    """Every field an estate's load checks a value against by itself (`Checker.check`): the whole file's, and each
    field named at a `check(value, FIELD, path)` call in the package's modules a load imports (read from their
    source: a var's `{default, overridable}`, a policy's statements given as JSON)."""
    from .loader import estate_fields  # noqa: PLC0415 - the loader imports the kinds, which import fields

    found: dict[int, Field] = {}
    for field in (estate_fields(sections()), *_named_at_checks()):  # the whole file's first: it imports the kinds
        found.setdefault(id(field), field)
    return tuple(found.values())


def _named_at_checks() -> Iterator[Field]:
    """The module-level fields named as the field of a `.check(...)` call, in the package's imported modules."""
    import ast  # noqa: PLC0415 - the build's, not a cold start's (which reads a generated validator: ~4 ms)

    for name, module in sorted(sys.modules.items()):
        if not name.startswith(f"{__package__}.") or not getattr(module, "__file__", None):
            continue
        for node in ast.walk(ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Name)):
                field = getattr(module, node.args[1].id, None)
                if isinstance(field, Field):
                    yield field


def write(out: Path = OUT_DIR) -> list[str]:
    """Write the package of generated validators to `out` (replacing what was there): one module per schema document
    and variant, named by its key, and their index. Returns the modules' names."""
    import shutil  # noqa: PLC0415 - the build's, as ast above

    import fastjsonschema  # noqa: PLC0415

    modules: dict[str, str] = {}
    for field in checked_fields():
        document = Render(LOADER).document(field)
        for detailed in (False, True):
            name = key(document, detailed)
            if name is not None and name not in modules:
                modules[name] = fastjsonschema.compile_to_code(document, detailed_exceptions=detailed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, code in modules.items():
        (out / f"{name}.py").write_text(f"# Generated by selfheal.validators at build time: do not edit.\n{code}")
    (out / "__init__.py").write_text(
        '"""The estate\'s validators, generated by `python -m selfheal.validators` at build time: do not edit."""\n\n'
        f"FASTJSONSCHEMA = {fastjsonschema.VERSION!r}\n"
        f"MODULES = frozenset({sorted(modules)!r})\n"
    )
    return sorted(modules)


if __name__ == "__main__":
    import fastjsonschema

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    written = write(target)
    size = sum(p.stat().st_size for p in target.glob("*.py"))
    print(f"{target}: {len(written)} estate validators, fastjsonschema {fastjsonschema.VERSION} ({size / 1e6:.2f} MB)")
