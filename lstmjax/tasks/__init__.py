"""Tasks: long-range synthetic problems, TFDS datasets and the user's own files.

``make_task(data_config, split, data_dir) -> (TaskSpec, source)`` resolves any of them
(``lstmjax.data.make_source`` is the same function). Synthetic tasks are pure
``(seed, index) -> example`` generators (``adding``, ``copy_memory``, ``temporal_order``,
``distant_recall``, ``listops``); ``lstmjax.tasks.tfds_builders`` registers them as TFDS
builders. See ``spec.py`` for the example format.
"""

from lstmjax.tasks.files import encode_texts, read_inputs, read_texts
from lstmjax.tasks.registry import NAMES, fields_of, fingerprint, make_task
from lstmjax.tasks.spec import (ArraySource, DataError, GeneratorSource, MappedSource, TaskSpec,
                                split_seed)
from lstmjax.tasks.text import Vocabulary, tokenize

__all__ = ["NAMES", "DataError", "TaskSpec", "make_task", "fields_of", "fingerprint", "GeneratorSource", "MappedSource",
           "ArraySource", "split_seed", "Vocabulary", "tokenize", "read_texts", "read_inputs",
           "encode_texts"]
