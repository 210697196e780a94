"""A pytest plugin (`-p tests.support.shipped_elsewhere`) that ships another team's estate in Galerly's place, as
replacing functions/selfheal/selfheal/estate.yaml would: whatever reads the shipped path reads acme's.

Property tests (hypothesis) are left out: they draw their own estates and reports and never read the shipped file, so
under acme's they would only repeat, at ~13 s, what the suite itself runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import is_hypothesis_test

import selfheal.loader

selfheal.loader.DEFAULT_ESTATE_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "acme.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    drawn = [item for item in items if is_hypothesis_test(getattr(item, "obj", None))]
    if drawn:
        config.hook.pytest_deselected(items=drawn)
        items[:] = [item for item in items if item not in drawn]
