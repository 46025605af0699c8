"""The one order of names: layers in a run, and runs in a logdir.

Python and the tab's JavaScript (``frontend/ordering.js``) implement the same
rule and are checked against the same golden vectors
(``tests/golden/ordering_vectors.json``).
"""

import re


def natural_key(name):
    """Sorts names as people read them: ``dense_2`` before ``dense_10``."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def model_order_key(order, tag):
    """The one order of layers everywhere (API, tab, report): by their position in
    the model (``order``; layers without one last), then naturally by tag."""
    return (order is None, order if order is not None else 0, natural_key(tag))
