"""One smoke check, run by the pipeline's Smoke Test state machine once per endpoint (Map state).

Input: {"baseUrl": "http://host:port", "check": {"path", "expectStatus", "timeoutSeconds",
"expectBody"}}. Output: {"url", "ok", "reason"}. It never raises: a failing endpoint is a result,
so the state machine can name every failure at once.
"""

from __future__ import annotations

from rollback_guard.hooks.smoke import PathCheck
from rollback_guard.hooks.timing import Deadline, HookError

# Kept back from the invocation's time to return the result.
ANSWER_MARGIN_SECONDS = 1


def handler(event, context=None) -> dict:
    try:
        base_url = event["baseUrl"]
        if not (isinstance(base_url, str) and base_url.startswith(("http://", "https://"))):
            raise ValueError(f"baseUrl {base_url!r}: an http:// or https:// URL")
        check = PathCheck.from_dict(event["check"]).at(base_url)
    except (KeyError, TypeError, ValueError) as error:
        return {"url": None, "ok": False, "reason": f"malformed check {event!r}: {error}"}
    try:
        failure = check(Deadline.of_invocation(context).less(ANSWER_MARGIN_SECONDS))
    except HookError as error:
        failure = str(error)
    return {"url": check.url, "ok": failure is None, "reason": failure or ""}
