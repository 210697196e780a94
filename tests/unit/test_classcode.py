"""selfheal/classcode.py: the methods dataclasses write for the package's classes, compiled at build time.

GIVEN the code recorded as `make build` records it WHEN a recorded class is defined THEN its methods come from that code
and are what dataclasses' own exec makes (the same bytecode, annotations, behaviour); a source not recorded is compiled
as exec would; a file for another Python, or none, installs nothing.
"""

from __future__ import annotations

import dataclasses
import marshal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pytest

from selfheal import classcode

MODULE = textwrap.dedent('''
    from __future__ import annotations
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Photo:
        """A frozen class: __init__, __repr__, __eq__, __hash__, __setattr__, __delattr__."""
        key: str
        size: int = 0
        tags: tuple[str, ...] = field(default_factory=tuple)

    @dataclass(order=True)
    class Album:
        """An ordered one: __lt__ and friends too."""
        name: str
        photos: list[Photo] = field(default_factory=list)
''')


@pytest.fixture
def module_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"classcode_probe_{request.node.name.split('[')[0][-20:]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    classcode.uninstall()


def _fresh(name: str) -> ModuleType:
    sys.modules.pop(name, None)
    return __import__(name)


def _codes(module: ModuleType) -> dict[str, Any]:
    """Each generated method's bytecode, constants, names and annotations."""
    found = {}
    for cls in (module.Photo, module.Album):
        for attr, value in vars(cls).items():
            code = getattr(value, "__code__", None)
            if isinstance(code, CodeType) and code.co_filename == "<string>":
                found[f"{cls.__name__}.{attr}"] = (code.co_code, code.co_consts, code.co_names, code.co_varnames,
                                                   code.co_flags, value.__annotations__)  # fmt: skip
    return found


def _record(name: str, path: Path) -> None:
    codes = classcode.record([name])
    path.write_bytes(marshal.dumps((classcode._STAMP, codes)))


def test_a_recorded_class_gets_the_code_exec_would_make_without_compiling(module_file: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    classcode.uninstall()
    plain = _codes(_fresh(module_file))
    cache = tmp_path / "classcode.marshal"
    sys.modules.pop(module_file, None)
    _record(module_file, cache)

    compiles: list[str] = []
    real = classcode.compiled
    monkeypatch.setattr(classcode, "compiled", lambda source: compiles.append(source) or real(source))
    assert classcode.install(cache)
    module = _fresh(module_file)

    assert compiles == []  # every method came from the recorded code
    assert _codes(module) == plain and len(plain) >= 10
    # the declared annotation, as dataclasses' exec evaluates it: not its placeholder's name, which a __future__ flag
    # inherited by the compile would keep ("__dataclass_type_size__")
    assert module.Photo.__init__.__annotations__["size"] == "int"
    photo = module.Photo("a.jpg", 3)
    assert photo == module.Photo("a.jpg", 3, ()) and hash(photo) == hash(module.Photo("a.jpg", 3))
    assert repr(photo) == "Photo(key='a.jpg', size=3, tags=())"
    with pytest.raises(dataclasses.FrozenInstanceError):
        photo.size = 4  # type: ignore[misc]
    assert module.Album("a") < module.Album("b")


def test_a_source_not_recorded_is_compiled_as_dataclasses_exec_compiles_it(module_file: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    classcode.uninstall()
    plain = _codes(_fresh(module_file))
    cache = tmp_path / "classcode.marshal"
    cache.write_bytes(marshal.dumps((classcode._STAMP, {})))
    compiles: list[str] = []
    real = classcode.compiled
    monkeypatch.setattr(classcode, "compiled", lambda source: compiles.append(source) or real(source))
    assert classcode.install(cache)

    module = _fresh(module_file)

    assert len(compiles) >= len(plain) and _codes(module) == plain  # no __future__ flag of this package's inherited


@pytest.mark.parametrize("content", [
    None,                                                   # a development checkout: nothing built
    b"not marshal",
    marshal.dumps(((classcode.FORMAT, "cpython-311"), {})),  # recorded by another Python
    marshal.dumps(((classcode.FORMAT + 1, sys.implementation.cache_tag), {})),
    marshal.dumps([]),
])  # fmt: skip
def test_no_recorded_code_for_this_python_installs_nothing(content: bytes | None, tmp_path: Path) -> None:
    path = tmp_path / "classcode.marshal"
    if content is not None:
        path.write_bytes(content)
    classcode.uninstall()
    assert classcode.install(path) is False
    assert "exec" not in vars(dataclasses)


def test_the_package_installs_only_what_it_was_built_with() -> None:
    # the source tree has no recorded file (make build writes it into the built function): dataclasses as always
    assert not Path(classcode.CACHE).exists()
    assert "exec" not in vars(dataclasses)
