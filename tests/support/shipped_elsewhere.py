"""A pytest plugin (`-p tests.support.shipped_elsewhere`) that ships another team's estate in Galerly's place, as
replacing functions/selfheal/selfheal/estate.yaml would: whatever reads the shipped path reads acme's."""

from __future__ import annotations

from pathlib import Path

import selfheal.loader

selfheal.loader.DEFAULT_ESTATE_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "acme.yaml"
