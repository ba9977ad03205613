"""``python -m lstmjax.tasks.corpus_cli CORPUS [OUT_DIR]``: write a package corpus's split CSVs.

A module of its own (not ``python -m lstmjax.tasks.corpora``) because the package
``lstmjax.tasks`` imports ``corpora`` first, and running an already-imported module as
``__main__`` makes Python warn. Prints one JSON line ``{"folder", "classes"}``; exit 2 for
an unknown corpus, 1 for a missing package or file (one line naming the pip command).
"""

from lstmjax.tasks.corpora import main

if __name__ == "__main__":
    raise SystemExit(main())
