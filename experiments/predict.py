"""``python -m lstmjax predict`` from the repository (see :mod:`lstmjax.cli`)."""

import sys

from lstmjax import cli

if __name__ == "__main__":
    sys.exit(cli.predict_main())
