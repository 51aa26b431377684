"""One smoke check, run by the pipeline's Smoke Test state machine once per endpoint (Map state).

Input: {"baseUrl": "http://host:port", "check": {"path", "expectStatus", "timeoutSeconds",
"expectBody"}}. Output: {"url", "ok", "reason"}. It never raises: a failing endpoint is a result,
so the state machine can name every failure at once.
"""

from __future__ import annotations

from hooks.smoke import EndpointCheck


def handler(event, context=None) -> dict:
    url = None
    try:
        check = event["check"]
        url = f"{event['baseUrl'].rstrip('/')}{check['path']}"
        failure = EndpointCheck.from_dict({**check, "url": url})()
    except (KeyError, TypeError, ValueError) as error:
        failure = f"malformed check {event!r}: {error!r}"
    return {"url": url, "ok": failure is None, "reason": failure or ""}
