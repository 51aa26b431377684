"""How a high-level component holds its parts."""

from __future__ import annotations

import pulumi


class Component(pulumi.ComponentResource):
    """A component of this library: one node of `pulumi up`'s tree, whose parts are named from its name."""

    def __init__(self, type_token: str, name: str, opts: pulumi.ResourceOptions | None = None):
        """Builds the component `name` (its parts' names start with it) from `args`, its Args class, which
        says what it builds, each field's default and why (`help()` on it); `opts` are Pulumi's resource
        options, which its parts inherit."""
        super().__init__(type_token, name, None, opts)


def protected_in_production(opts: pulumi.ResourceOptions | None, production: bool) -> pulumi.ResourceOptions | None:
    """A high-level component's options: in production with `protect`, which every part inherits,
    so `pulumi destroy` (or deleted code) stops instead of deleting production."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)) if production else opts


def part_of(component: pulumi.Resource, **options) -> pulumi.ResourceOptions:
    """Options for a part that a high-level component builds.

    Programs that built these parts at their top level (as rollback-guard's own stacks did before
    the high-level components existed) move to the component without replacing anything: each
    part carries an alias to its top-level URN, and its own parts inherit it."""
    return pulumi.ResourceOptions(
        parent=component, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)], **options
    )
