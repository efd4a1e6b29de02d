"""Neural adapters: non-differentiable image classifiers as forward-only Problems.

Importing this package does not import torch; ``blackbox.problems.neural.models`` (loaded by the registry
when a problem is built) does. See ``base`` for the batched and low-rank evaluation paths.
"""
