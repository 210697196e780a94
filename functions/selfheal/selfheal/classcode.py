"""The methods dataclasses write for the package's classes, compiled at build time, not at each cold start.

When a dataclass is defined, Python's dataclasses module writes its __init__, __repr__, __eq__, __hash__ (and for a
frozen class __setattr__ and __delattr__) as source text and compiles each with exec(): ~0.6 ms a class, ~25 ms of a
cold `import app` (the package defines ~45 on that path). The .pyc files `make build` ships cannot hold that code: it
is made while the module runs. So `make build` also records each such source and its compiled code (`write`, with
the runtime's Python, importing the built function), and `install` lets dataclasses' exec take the compiled code for
a source it recorded — the same code exec compiles from that text (file name "<string>", no __future__ flags).
Any other source (another class, a class that changed, another Python) is compiled by exec as always, and without
the recorded file (a development checkout) nothing is installed.

marshal, as for the .pyc files themselves: code objects are what it is made for, and it never runs code on reading.

    python -c 'import sys, selfheal.classcode as c; c.main(sys.argv[1:])' OUT
        (the Makefile runs it with the built function and its layer on the path; app.py installs it: the function's
        cold start, not the CLI's)
"""

from __future__ import annotations  # compile() below never inherits it: dont_inherit

import builtins
import marshal
import os
import sys

TYPE_CHECKING = False  # typing and pathlib cost `selfheal --version` more than all it does (type checkers read True)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import CodeType
    from typing import Any

CACHE = os.path.join(os.path.dirname(__file__), "classcode.marshal")
FORMAT = 1
# code objects are valid only for the Python that compiled them: its cache tag names its .pyc files too (cpython-312)
_STAMP = (FORMAT, sys.implementation.cache_tag)


def compiled(source: str) -> CodeType:
    """`source` compiled as dataclasses' exec compiles it: as a module's text, under no __future__ flag (compile would
    otherwise inherit this module's)."""
    return compile(source, "<string>", "exec", dont_inherit=True)


def install(path: str | os.PathLike[str] | None = None) -> bool:
    """Let dataclasses' exec use the code recorded at `path` (default: the built package's); False when there is none
    for this Python."""
    try:
        with open(path or CACHE, "rb") as file:
            stamp, codes = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return False
    if stamp != _STAMP or not isinstance(codes, dict):
        return False
    import dataclasses  # noqa: PLC0415 - only where there is code for it: `selfheal --version` does not need it

    vars(dataclasses)["exec"] = _exec_from(codes)  # a global of dataclasses' own: found before the builtin
    return True


def uninstall() -> None:
    """dataclasses' exec is the builtin again."""
    if "dataclasses" in sys.modules:
        vars(sys.modules["dataclasses"]).pop("exec", None)


def _exec_from(codes: Mapping[str, CodeType]) -> Callable[..., None]:
    def exec_recorded(source: Any, globals: Any = None, locals: Any = None) -> None:  # noqa: A002 - exec's own names
        code = codes.get(source) if isinstance(source, str) else None
        builtins.exec(code if code is not None else compiled(source), globals, locals)

    return exec_recorded


def record(modules: list[str]) -> dict[str, CodeType]:
    """Import `modules` and every module of the selfheal package, recording each source dataclasses compile meanwhile
    (a module imported before is not imported again: run this in a fresh interpreter)."""
    codes: dict[str, CodeType] = {}

    def exec_recording(source: Any, globals: Any = None, locals: Any = None) -> None:  # noqa: A002
        code = compiled(source) if isinstance(source, str) else source
        if isinstance(source, str):
            codes[source] = code
        builtins.exec(code, globals, locals)

    import dataclasses  # noqa: PLC0415 - the build's imports, not a cold start's
    import importlib  # noqa: PLC0415
    import pkgutil  # noqa: PLC0415

    package = os.path.dirname(__file__)
    vars(dataclasses)["exec"] = exec_recording
    try:
        for name in modules:
            importlib.import_module(name)
        for module in pkgutil.walk_packages([package], "selfheal."):
            if module.name.endswith(".__main__"):
                continue  # the CLI's entry: it runs, not defines
            try:
                importlib.import_module(module.name)
            except ModuleNotFoundError as exc:
                if not exc.name or exc.name.split(".")[0] in ("selfheal", "app"):
                    raise
                # the CLI's own dependencies (ruamel.yaml, rich...) are not in the function's layer: not its modules
    finally:
        uninstall()
    return codes


def write(out: str | os.PathLike[str], modules: list[str]) -> int:
    """Record the package's dataclass code (importing `modules` first) into `out`; returns how many sources."""
    codes = record(modules)
    with open(out, "wb") as file:
        file.write(marshal.dumps((_STAMP, codes)))
    return len(codes)


def main(argv: list[str]) -> None:
    """`make build`: record the built function's dataclass code into argv[0]."""
    if len(argv) != 1:
        sys.exit(f"usage: main([OUT]): OUT is the built function's selfheal/{os.path.basename(CACHE)}")
    count = write(argv[0], ["app"])
    print(f"{argv[0]}: {count} dataclass methods compiled for Python {sys.version.split()[0]}")
