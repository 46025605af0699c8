"""The article's experiments as data: which networks are trained, and at what size.

A :class:`Variant` is one network (one run in the log folder,
``<experiment>/<variant>``); a :class:`Scale` says how much data, how many
epochs and what batch size a whole run of the experiments uses. Everything
else (optimizer, loss, seed) is the same for every variant so that a
difference between two runs comes from the variant alone.
"""

import dataclasses

# The article's one-unit network, and the width of every other hidden layer.
# Small, like the article's nets: 8 units are few enough to read unit by unit
# in the Dead ReLU tab and enough for a share of dead units to mean something.
ONE_UNIT = (1,)
THREE_LAYERS = (8, 8, 8)

SEED = 7
LEARNING_RATE = 0.01


@dataclasses.dataclass(frozen=True)
class Variant:
    """One network of the experiments.

    Attributes:
      experiment: The experiment (article question) it belongs to; a folder.
      name: The variant's name; the run is ``<experiment>/<name>``.
      question: What this run asks, in one line (shown in the result table).
      units: Units of each hidden layer, first to last.
      activation: Keras activation of the hidden layers.
      kernel_initializer: Keras initializer name of the hidden layers, or
        ``"negative_uniform"`` for weights drawn from uniform(-1, 0).
      dropout: Rate of a Dropout layer after each hidden layer (0 = none).
      alpha_dropout: Rate of an AlphaDropout layer after each hidden layer.
      data_factor: Multiplies the scale's number of samples.
      epoch_factor: Multiplies the scale's number of epochs.
    """

    experiment: str
    name: str
    question: str
    units: tuple = THREE_LAYERS
    activation: str = "relu"
    kernel_initializer: str = "glorot_uniform"
    dropout: float = 0.0
    alpha_dropout: float = 0.0
    data_factor: int = 1
    epoch_factor: int = 1

    @property
    def run(self):
        """The run's path under the log folder, e.g. ``"activations/selu"``."""
        return "%s/%s" % (self.experiment, self.name)


@dataclasses.dataclass(frozen=True)
class Scale:
    """How big a run of the experiments is.

    Attributes:
      samples: Rows of x (70% train, 30% validation) per variant before
        ``Variant.data_factor``.
      epochs: Epochs per variant before ``Variant.epoch_factor``.
      batch_size: Training batch size.
    """

    samples: int
    epochs: int
    batch_size: int

    def __post_init__(self):
        for field in ("samples", "epochs", "batch_size"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError("scale.%s must be a positive int, got %r" % (field, value))
        if self.samples < 10:
            raise ValueError("scale.samples must be at least 10 (for a 70/30 split), got %r" % self.samples)


# The article's sizes: 200,000 rows of 4 features.
FULL = Scale(samples=200_000, epochs=10, batch_size=64)
# The README's demo: every variant in a few minutes on 2 CPU cores.
QUICK = Scale(samples=20_000, epochs=5, batch_size=64)

VARIANTS = (
    Variant(
        "one_layer", "relu", "The article's net: does a one-unit ReLU layer die on uniform(-1, 0) inputs?",
        units=ONE_UNIT,
    ),
    Variant("three_layers", "relu", "More layers: do three ReLU layers of 8 units fare better?"),
    *(
        Variant("initializers", init, "Does the %s initializer keep ReLU units alive?" % init, kernel_initializer=init)
        for init in ("he_normal", "he_uniform", "lecun_uniform", "random_uniform")
    ),
    Variant(
        "negative_weights", "one_layer", "Negative initial weights uniform(-1, 0), one-unit net",
        units=ONE_UNIT, kernel_initializer="negative_uniform",
    ),
    Variant(
        "negative_weights", "three_layers", "Negative initial weights uniform(-1, 0), three layers",
        kernel_initializer="negative_uniform",
    ),
    Variant("activations", "tanh", "tanh instead of ReLU", activation="tanh"),
    Variant("activations", "sigmoid", "sigmoid instead of ReLU", activation="sigmoid"),
    Variant("activations", "leaky_relu", "leaky ReLU (slope 0.2) instead of ReLU", activation="leaky_relu"),
    Variant(
        "activations", "selu", "SELU with lecun_normal and AlphaDropout(0.1) instead of ReLU",
        activation="selu", kernel_initializer="lecun_normal", alpha_dropout=0.1,
    ),
    Variant("remedies", "more_data", "Five times the data", data_factor=5),
    Variant("remedies", "dropout", "Dropout(0.2) after every hidden layer", dropout=0.2),
    Variant("remedies", "more_epochs", "Four times the epochs", epoch_factor=4),
)


def names():
    """Every experiment and run name that ``select`` accepts."""
    experiments = sorted({v.experiment for v in VARIANTS})
    return experiments + [v.run for v in VARIANTS]


def select(only=None):
    """The variants named by ``only`` (experiment names or ``experiment/variant``
    run names), in the order of :data:`VARIANTS`; all of them when ``only`` is
    None or empty.

    Raises:
      ValueError: naming ``only`` when a name is not an experiment or run.
    """
    if not only:
        return list(VARIANTS)
    if isinstance(only, str):
        only = [only]
    known = set(names())
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(
            "only names %s, which is not an experiment or run; choose from: %s"
            % (", ".join(map(repr, unknown)), ", ".join(names()))
        )
    wanted = set(only)
    return [v for v in VARIANTS if v.experiment in wanted or v.run in wanted]
