"""`python -m rollback_guard.policy` prints the folder of the CrossGuard pack shipped in this
package, for the Pulumi CLI:

    pulumi preview --policy-pack "$(python -m rollback_guard.policy)"

Pulumi runs the pack with the Python on PATH, so run this with that Python: it fails, naming the
extra to install, where the pack could not run (pulumi-policy missing)."""

import sys

from rollback_guard.extras import require
from rollback_guard.policy import PACK_FOLDER

try:
    require("pulumi_policy", "policy", "the CrossGuard pack")
except ModuleNotFoundError as missing:
    sys.exit(str(missing))
print(PACK_FOLDER)
