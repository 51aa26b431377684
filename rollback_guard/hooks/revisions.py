"""A deployment's AppSpec, as CodeDeploy hands it back, and how rollback-guard describes the
deployments it creates.

GetDeployment and BatchGetDeployments never return the AppSpec's content (AWS documents it as
always null); they return its SHA-256, and GetApplicationRevision returns the content for it. The
description of a deployment rollback-guard created says what it moves without that extra call:
"rollback-guard release <revision> (from <live>): ..." or, for a corrective deployment that puts a
known-good revision back, "rollback-guard rollback <revision> (from <bad>): ...".
"""

from __future__ import annotations

import re

DESCRIBED = re.compile(r"^rollback-guard (?P<action>release|rollback) (?P<target>\S+) \(from (?P<source>\S+)\)")


def describe(action: str, target: str, source: str, what: str) -> str:
    """The description of a deployment rollback-guard creates (CodeDeploy takes at most 100)."""
    return f"rollback-guard {action} {target} (from {source}): {what}"[:100]


def described(info: dict) -> re.Match | None:
    """What a deployment's description says it moves, if rollback-guard described it."""
    return DESCRIBED.match(info.get("description") or "")


def appspec_content(codedeploy, info: dict) -> str | None:
    """The AppSpec of a deployment (a `deploymentInfo`), or None if it has no inline AppSpec."""
    revision = info.get("revision") or {}
    if revision.get("revisionType") != "AppSpecContent":
        return None
    answer = codedeploy.get_application_revision(applicationName=info["applicationName"], revision=revision)
    return ((answer.get("revision") or {}).get("appSpecContent") or {}).get("content")
