"""This checkout's way to the pack the package ships (rollback_guard/policy/crossguard-pack):
`pulumi preview --policy-pack policy-pack` from a source checkout, where Pulumi builds venv/ from
requirements.txt. With the package installed, use `--policy-pack "$(python -m rollback_guard.policy)"`.
Serving blocks, so nothing imports this file."""

from rollback_guard.policy.pack import serve

serve()
