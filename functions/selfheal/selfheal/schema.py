"""The JSON Schema of the estate file, for editors: rendered from the fields each kind declares (selfheal/fields.py),
the same declaration the loader validates with.

    python -m selfheal.schema --write    # regenerate selfheal/estate.schema.json (a test fails when it is stale)
    selfheal schema                      # print it

An estate file whose first line is ``# yaml-language-server: $schema=<path or URL of the schema>`` is validated and
completed as it is typed (VS Code's YAML extension, JetBrains IDEs, any yaml-language-server client).

The schema accepts every file the validator accepts (a test checks it on generated estates) and catches most mistakes
as they are typed: unknown or misspelt fields, wrong types, values out of range or not among the choices. What needs
the whole file — ${var} values, duplicate names, the policy's bucket ARNs — is left to the validator (`selfheal
plan`), which answers every problem with one line naming the field and the fix; rules across fields are given to
editors as hints. A string holding a ${var} placeholder is accepted wherever a string is: it is checked once the vars
are resolved.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .fields import EDITOR, Render, sections
from .loader import SCHEMA_FILE, estate_fields, shipped_file


def build() -> dict[str, Any]:
    """The JSON Schema (draft-07, what editors support best) of an estate file."""
    return Render(EDITOR).document(estate_fields(sections()), title="selfheal estate")


def render() -> str:
    """The schema as the text shipped in the package."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--write"]:
        path = shipped_file(SCHEMA_FILE)
        path.write_text(render(), encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
