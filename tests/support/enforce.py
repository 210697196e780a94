"""The function role's policy (template.yaml), enforced by the local AWS for a test that uses the `aws` fixture.

Used as an autouse fixture by the e2e and reliability suites: any call of selfheal's clients (the role) that the
policy does not allow, implied permissions included, is answered AccessDenied as AWS would (devtools/iam.py).
A test whose stack would be deployed with other parameters says so: `@pytest.mark.iam_parameters(Prefix="x")`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def enforce_template_policy(request: pytest.FixtureRequest, template: Path = TEMPLATE) -> None:
    if "aws" not in request.fixturenames:
        return
    aws = request.getfixturevalue("aws")
    marker = request.node.get_closest_marker("iam_parameters")
    aws.enforce_iam(template, parameters=dict(marker.kwargs) if marker else None)
