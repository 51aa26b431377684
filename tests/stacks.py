"""The mock engine lives in ops/offline.py (the `plan` command builds stacks with it too)."""

from ops.offline import (  # noqa: F401
    ACCOUNT,
    REGION,
    ROOT,
    BuiltStack,
    FakeAws,
    RecordingMonitor,
    Registration,
    build_stack,
    mock_arn,
    settled_stack,
    stack_config,
    use_config,
)
