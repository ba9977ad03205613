"""One ml_collections ``get_config()`` file per experiment (see ``base.py`` for the fields)."""
