"""``panel serve apps/workbench_app.py [--args --store PATH]``: the whole workbench app.

The store is ``--store PATH`` if given, else ``$WORKBENCH_STORE``, else
``$WORKBENCH_HOME/workbench.duckdb`` (``~/.workbench/workbench.duckdb``).
"""

import argparse
import sys

from workbench.ui.app import create_app

parser = argparse.ArgumentParser(prog="workbench_app.py")
parser.add_argument("--store", default=None)
args, _unknown = parser.parse_known_args(sys.argv[1:])

create_app(args.store).servable(title="workbench")
