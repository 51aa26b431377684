"""A deployment's AppSpec, as CodeDeploy hands it back.

GetDeployment and BatchGetDeployments never return the AppSpec's content (AWS documents it as
always null); they return its SHA-256, and GetApplicationRevision returns the content for it.
"""

from __future__ import annotations


def appspec_content(codedeploy, info: dict) -> str | None:
    """The AppSpec of a deployment (a `deploymentInfo`), or None if it has no inline AppSpec."""
    revision = info.get("revision") or {}
    if revision.get("revisionType") != "AppSpecContent":
        return None
    answer = codedeploy.get_application_revision(applicationName=info["applicationName"], revision=revision)
    return ((answer.get("revision") or {}).get("appSpecContent") or {}).get("content")
