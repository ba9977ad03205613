"""Experiments: configs (``experiments/configs``) and the training CLI (``experiments.train``)."""
