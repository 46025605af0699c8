"""The experiments of the article "Is ReLU Dead?", reproduced with the Dead ReLU monitor.

Run them all with ``python -m experiments --logdir logs/article [--quick]``,
then ``tensorboard --logdir logs/article`` and open the Dead ReLU tab. From
Python::

    import experiments
    experiments.run("logs/article", only=["activations"], scale=experiments.QUICK)

Modules: ``data`` (inputs and target), ``variants`` (the networks and sizes),
``models`` (Keras models), ``runner`` (training into the log folder),
``results`` (the result table, read back from the event files).
"""

from experiments.runner import run
from experiments.variants import FULL, QUICK, SEED, VARIANTS, Scale, Variant

__all__ = ["run", "FULL", "QUICK", "SEED", "VARIANTS", "Scale", "Variant"]
