"""Hooks of BlitzBuy's API check (tools/schemathesis/run.sh loads them).

- positive_data_acceptance_allowlisted: schemathesis' positive_data_acceptance
  run strictly (schemathesis.toml: expected 2xx), except for the refusals that
  allow.yaml lists, each for a rule the schema cannot express. The built-in
  check is disabled in schemathesis.toml in favour of this one.
- after_call: counts every request by operation and status, and every use of
  an allow-list entry; the counts are printed when the run ends.
"""

import atexit
import collections
import json
import os
import re

import yaml

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "allow.yaml"), encoding="utf-8") as f:
    ALLOW = yaml.safe_load(f)
for entry in ALLOW:
    missing = {"operation", "status", "code", "why"} - entry.keys()
    if missing:
        raise ValueError(f"allow.yaml entry {entry} lacks {sorted(missing)}")

requests_by_status = collections.Counter()  # (operation, status)
allowed_uses = collections.Counter()  # index into ALLOW


def _problem(response):
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _allowed(case, response):
    """The index of the allow-list entry that explains this refusal, or None."""
    problem = _problem(response)
    if problem is None:
        return None
    for i, entry in enumerate(ALLOW):
        if (
            entry["operation"] == case.operation.label
            and entry["status"] == response.status_code
            and entry["code"] == problem.get("code")
            and ("detail" not in entry or re.fullmatch(entry["detail"], str(problem.get("detail", ""))))
        ):
            return i
    return None


@schemathesis.check
def positive_data_acceptance_allowlisted(ctx, response, case):
    """Schema-valid requests get a 2xx, or a refusal allow.yaml explains."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        i = _allowed(case, response)
        if i is None:
            raise
        allowed_uses[i] += 1
        return None


@schemathesis.hook
def after_call(context, case, response):
    requests_by_status[(case.operation.label, response.status_code)] += 1


@atexit.register
def _print_counts():
    if not requests_by_status:
        return
    total = sum(requests_by_status.values())
    by_status = collections.Counter()
    for (_, status), n in requests_by_status.items():
        by_status[status] += n
    print(f"\napi check: {total} requests; by status: " + ", ".join(f"{s}: {n}" for s, n in sorted(by_status.items())))
    print("api check: requests by operation and status:")
    for (op, status), n in sorted(requests_by_status.items()):
        print(f"  {n:6d}  {status}  {op}")
    print("api check: schema-valid requests refused as allow.yaml explains:")
    for i, entry in enumerate(ALLOW):
        detail = f" ({entry['detail']})" if "detail" in entry else ""
        print(f"  {allowed_uses[i]:6d}  {entry['status']} {entry['code']}{detail}  {entry['operation']}")
