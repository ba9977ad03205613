"""ListOps (Nangia & Bowman 2018; LRA): evaluate nested MAX/MIN/MED/SM expressions."""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "listops")
    c = default_config()
    c.data = dict(name="listops", min_length=500, max_length=2000, max_depth=10, max_args=10,
                  seed=0, num_examples=96_000, num_eval_examples=2_000)
    c.steps = 5000
    c.pad_to = "batch"  # lengths vary 500..2000: pad each batch to its own longest
    c.bucket = True     # ... and batch similar lengths together
    c.model.hidden_size = 128
    c.model.embed_dim = 64
    c.model.bidirectional = True
    c.model.pooling = "bilstm"
    c.model.remat = True
    return c
