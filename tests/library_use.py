"""What the tests that call the components directly share: the sample function's code, an existing
VPC (the mocks answer its lookup) and a container."""

from pathlib import Path

from rollback_guard.components.ecs_service import Container
from rollback_guard.components.network import ExistingVpc

GREETER = str(Path(__file__).resolve().parent.parent / "functions" / "greeter")
VPC = ExistingVpc("vpc-0abc", ("subnet-a", "subnet-b"), ("subnet-c", "subnet-d"))
NGINX = Container(name="web", image="public.ecr.aws/nginx/nginx", tag="1.27", port=80)
