"""What the application's high-resolution counts are called: the contract between
rollback_guard.release_metrics, which application code uses to publish them, and the canary judge
(hooks/judge.py), which reads them. Here, in the hooks the judge's Lambda ships with, so both
import one declaration."""

NAMESPACE = "RollbackGuard/Release"
REQUESTS = "Requests"
ERRORS = "Errors"
SERVICE = "Service"
VERSION = "Version"
# One record per 10 s bucket; the judge reads Sum at this period.
PERIOD_SECONDS = 10
