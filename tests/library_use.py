"""What the tests that call the components directly share: the sample function's code, an existing
VPC (the mocks answer its lookup) and a container."""

from pathlib import Path

import pytest

from rollback_guard.components.ecs_service import Container
from rollback_guard.components.network import ExistingVpc
from rollback_guard.policy.rules import UnsafeConfiguration
from rollback_guard.testing import run

GREETER = str(Path(__file__).resolve().parent.parent / "functions" / "greeter")
VPC = ExistingVpc("vpc-0abc1234", ("subnet-0a000001", "subnet-0a000002"), ("subnet-0b000001", "subnet-0b000002"))
NGINX = Container(name="web", image="public.ecr.aws/nginx/nginx", tag="1.27", port=80)


def refused_before_anything_exists(program, error=UnsafeConfiguration, config=None) -> str:
    """What `program` is refused for (as `error`), which must happen before it registers anything."""

    def attempt() -> str:
        with pytest.raises(error) as refused:
            program()
        return str(refused.value)

    built = run(attempt, config=config)
    assert built.monitor.registered == [], "nothing is created"
    return built.value
