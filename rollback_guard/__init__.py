"""rollback-guard: Pulumi components that give AWS services automatic rollback.

This file imports nothing: it is shipped to Lambda with the hook handlers
(rollback_guard.hooks), where Pulumi is not installed. The components are in
rollback_guard.components.
"""

__version__ = "0.2.0"
