"""rollback-guard's CrossGuard pack, as the Pulumi CLI runs it (`python -m pulumi.policy` on this
folder). The policies are in rollback_guard.policy.pack; serving them blocks, so only this file
starts the server."""

from rollback_guard.policy.pack import serve

serve()
