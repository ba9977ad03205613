"""Your own labelled text (CSV/TSV/JSONL): ``--config.data.path=reviews.csv``.

    python -m experiments.train --config experiments/configs/text_file.py \
        --workdir runs/mine --config.data.path=data/{split}.csv

Splits: with ``{split}`` in ``path`` each split reads its own file when it exists; set
``test_path`` / ``validation_path`` for other names. A split without a file is held out
of the train file (``holdout`` of its rows in all, split between validation and test
when both are held out; disjoint, seeded by ``data.seed``).
Files that are not UTF-8: ``--config.data.encoding=latin-1`` (a UTF-8 BOM is handled).

The training settings (:func:`text_settings`) are the text defaults, tuned on a corpus
that is not in the real-text report (``experiments/results/real_text``, ``docs/text.md``).
"""

from ml_collections import config_dict

from experiments.configs import choose
from lstmjax.schema import default_config

# get_config's arguments: a classifier (the default), or a language model on the same text
ARGS = ("label", "next_token", "previous_token")
# the text fields of the data section (what experiments/configs/real_text.py reuses)
TEXT_DATA = dict(vocab_size=20_000, min_count=1, max_length=200)


def shared_settings(c):
    """What every text run here trains with, classifier or language model, on a
    ``default_config()`` ``c`` (in place)."""
    c.eval_batches = 0  # validate on the whole split: it picks the best checkpoint
    c.pad_to = "batch"
    c.bucket = True
    c.model.embed_dim = 64
    # tuned on amazon_snippets (docs/text.md): without dropout a text BiLSTM overfits
    # within a few hundred steps (validation loss rises from the first validation)
    c.model.embed_dropout = 0.5
    c.model.dropout = 0.5  # on the pooled features the head reads (one layer too)
    c.patience = 4  # stop 4 validations (800 steps) after the best; best/ keeps it
    # a cap, not a length: patience ends a run; at 2000 the larger corpora (10-14k
    # training texts) were still improving when the budget cut them (docs/text.md)
    c.steps = 6000
    return c


def text_settings(c):
    """The text classifier's training settings on a ``default_config()`` ``c`` (in place)."""
    shared_settings(c)
    c.model.bidirectional = True
    c.model.pooling = "bilstm"
    # fastText's bag of hashed uni- and bigrams beside the sentence vector (tuned on
    # amazon_snippets: orders 1-3 within one standard error of each other, each above none)
    c.model.ngram_order = 2
    return c


def language_model_settings(c):
    """A language model's training settings on a ``default_config()`` ``c`` (in place;
    the data section's ``target`` says which): one LSTM (the schema's default: a backward
    direction would read the answer) reading the text forward (``next_token``) or
    reversed (``previous_token``), predicting the next token at every step, its best
    checkpoint the lowest whole-split validation loss. Its recurrence and embedding start
    a classifier through ``model.init_from`` (docs/text.md#language-model-pretraining)."""
    shared_settings(c)
    c.select_metric = "loss"
    return c


def get_config(arg=None):
    """``text_file.py`` (a classifier), ``text_file.py:next_token`` or
    ``text_file.py:previous_token`` (a language model on the same files)."""
    arg = choose(arg, ARGS, "label", "text_file")
    c = (text_settings if arg == "label" else language_model_settings)(default_config())
    c.data = dict(name="text_file", path=config_dict.placeholder(str),
                  validation_path=config_dict.placeholder(str), test_path=config_dict.placeholder(str),
                  text_column="text", label_column="label", format=config_dict.placeholder(str),
                  encoding="utf-8", **TEXT_DATA,
                  vocab_path=config_dict.placeholder(str), holdout=0.2, seed=0)
    c.data.target = arg
    return c
