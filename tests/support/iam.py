"""The template's IAM, for tests: a re-export of devtools/iam.py (the evaluator the local AWS enforces).

``allowed``/``iam_action`` answer whether the template allows one call's own action (tests/unit/test_template.py);
``Enforcer``, ``IMPLIED`` and ``access_denied`` are what the local AWS runs on every request of the function role.
"""

from __future__ import annotations

from devtools.iam import (
    ACCOUNT_LEVEL,
    IAM_ACTION,
    IMPLIED,
    NO_AUTHORIZATION,
    Enforcer,
    ImpliedRule,
    Resolver,
    Statement,
    access_denied,
    allowed,
    as_list,
    conditioned,
    decide,
    evaluate_condition,
    evaluate_conditions,
    function_role_statements,
    iam_action,
    kms_key_arn,
    load_template,
    policy_statements,
    resolve,
    resource_arn,
    template_variables,
)

__all__ = [
    "ACCOUNT_LEVEL",
    "IAM_ACTION",
    "IMPLIED",
    "NO_AUTHORIZATION",
    "Enforcer",
    "ImpliedRule",
    "Resolver",
    "Statement",
    "access_denied",
    "allowed",
    "as_list",
    "conditioned",
    "decide",
    "evaluate_condition",
    "evaluate_conditions",
    "function_role_statements",
    "iam_action",
    "kms_key_arn",
    "load_template",
    "policy_statements",
    "resolve",
    "resource_arn",
    "template_variables",
]
