"""Train one model from a config file (the same as ``python -m lstmjax train``).

    python -m experiments.train --config experiments/configs/adding.py --workdir runs/adding \
        [--config.seed=1 --config.model.hidden_size=64 --config.parallel=pmap ...]

Running the same command on an existing workdir resumes from its latest checkpoint.
Exit codes: see ``lstmjax.cli.EXIT_CODES`` (0 done, 1 NaN/Inf loss, 2 config,
3 run directory or checkpoint, 4 data, 5 lost peer of a multi-process job, 130 interrupted).
"""

import sys

from lstmjax import cli

if __name__ == "__main__":
    sys.exit(cli.train_main())
