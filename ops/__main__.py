"""Operations command line: plan, deploy, status, rollback, redeploy, game day (`python -m ops --help`)."""

import sys

from ops.cache import default_dir
from ops.cli import main

sys.exit(main(cache_dir=default_dir()))
