"""``python -m lstmjax train | evaluate | predict`` (see :mod:`lstmjax.cli`)."""

import sys

from lstmjax.cli import main

sys.exit(main())
