"""Your own labelled text (CSV/TSV/JSONL): ``--config.data.path=reviews.csv``.

    python -m experiments.train --config experiments/configs/text_file.py \
        --workdir runs/mine --config.data.path=data/{split}.csv
"""

from ml_collections import config_dict

from experiments.configs.base import base


def get_config():
    c = base(dict(name="text_file", path=config_dict.placeholder(str), text_column="text",
                  label_column="label", format=config_dict.placeholder(str),
                  vocab_size=20_000, min_count=1, max_length=200,
                  vocab_path=config_dict.placeholder(str), holdout=0.1, seed=0))
    c.steps = 2000
    c.pad_to = "batch"
    c.bucket = True
    c.model.hidden_size = 64
    c.model.embed_dim = 64
    c.model.bidirectional = True
    c.model.pooling = "bilstm"
    return c
