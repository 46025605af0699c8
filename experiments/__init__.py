"""The experiments of the article "Is ReLU Dead?", reproduced with the Dead ReLU monitor.

Run them all with ``python -m experiments --logdir logs/article [--quick]``,
then ``tensorboard --logdir logs/article`` and open the Dead ReLU tab. Every
run records, per hidden layer and epoch (from step 0, the initial weights),
each unit's exact zeros and mean |activation| on the validation set, and its
gradient d(loss)/d(pre-activation) on the same inputs (the article's evidence:
a dead ReLU unit gets exactly zero gradient). From Python::

    import experiments
    experiments.run("logs/article", only=["activations"], scale=experiments.QUICK)

Modules: ``data`` (inputs and target), ``variants`` (the networks and sizes),
``models`` (Keras models), ``runner`` (training into the log folder),
``results`` (the result table, read back from the event files).
"""

from experiments.runner import run
from experiments.variants import FULL, QUICK, SEED, VARIANTS, Scale, Variant

__all__ = ["run", "FULL", "QUICK", "SEED", "VARIANTS", "Scale", "Variant"]
