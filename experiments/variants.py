"""The article's experiments as data: which networks are trained, and at what size.

A :class:`Variant` is one network (one run in the log folder,
``<experiment>/<variant>``); a :class:`Scale` says how much data, how many
epochs and what batch size a whole run of the experiments uses. Everything
else (optimizer, loss, the data's seed) is the same for every variant so
that a difference between two runs comes from the variant alone. The seed
sweep (:func:`seed_sweep`) trains the one-unit net once per model seed, on
the same data.
"""

import dataclasses

# The article's one-unit network, and the width of every other hidden layer.
# Small, like the article's nets: 8 units are few enough to read unit by unit
# in the Dead ReLU tab and enough for a share of dead units to mean something.
ONE_UNIT = (1,)
THREE_LAYERS = (8, 8, 8)

SEED = 7
LEARNING_RATE = 0.01
# The experiment that trains the one-unit nets over many model seeds.
SEEDS_EXPERIMENT = "seeds"


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
      target: Name of the regression target (a key of ``data.TARGETS``).
      standardize: Whether the inputs are standardised (mean 0, standard
        deviation 1 per feature) before the network sees them.
      learning_rate: Adam's learning rate, or None for the run's (``--lr``).
      model_seed: Seed of the initial weights, the batch order and the
        dropout masks, or None for the run's seed (which also draws the data).
      recycle_tau: None, or ReDo's ``tau``: after every epoch's record the
        units it found dead (0) or τ-dormant (> 0) are recycled
        (``DeadReluMonitor(recycle=ReDo(tau))``).
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
    target: str = "article"
    standardize: bool = False
    learning_rate: float = None
    model_seed: int = None
    recycle_tau: float = None

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
      seeds: Model seeds per seed sweep (0: no sweep unless asked for by name).
      redo_seeds: Model seeds per arm of the ReDo comparison (``redo``), the
        seed sweep's first ones; None: ``seeds``.
    """

    samples: int
    epochs: int
    batch_size: int
    seeds: int = 0
    redo_seeds: int = None

    def __post_init__(self):
        if self.redo_seeds is None:
            object.__setattr__(self, "redo_seeds", self.seeds)
        for field in ("samples", "epochs", "batch_size", "seeds", "redo_seeds"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if field in ("seeds", "redo_seeds") else 1):
                raise ValueError(
                    "scale.%s must be a %s int, got %r" % (field, "non-negative" if field in ("seeds", "redo_seeds") else "positive", value)
                )
        if self.samples < 10:
            raise ValueError("scale.samples must be at least 10 (for a 70/30 split), got %r" % self.samples)


# The article's sizes: 200,000 rows of 4 features, and its plots' 25 epochs.
FULL = Scale(samples=200_000, epochs=25, batch_size=64, seeds=8)
# The README's demo: every variant in a few minutes on 2 CPU cores.
# The ReDo comparison's 8 arms take 3 seeds each there (about 2 minutes).
QUICK = Scale(samples=20_000, epochs=5, batch_size=64, seeds=10, redo_seeds=3)

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
    # The article swaps the activation of its one-layer net; ours above are three layers.
    Variant("activations_one_unit", "tanh", "tanh on the one-unit net", units=ONE_UNIT, activation="tanh"),
    Variant("activations_one_unit", "sigmoid", "sigmoid on the one-unit net", units=ONE_UNIT, activation="sigmoid"),
    Variant(
        "activations_one_unit", "leaky_relu", "leaky ReLU (slope 0.2) on the one-unit net",
        units=ONE_UNIT, activation="leaky_relu",
    ),
    Variant("remedies", "more_data", "Five times the data", data_factor=5),
    Variant("remedies", "dropout", "Dropout(0.2) after every hidden layer", dropout=0.2),
    # The article's base is 25 epochs (its plots); more is twice that.
    Variant("remedies", "more_epochs", "Twice the epochs", epoch_factor=2),
    # SELU's rescue, tested fairly: the article's SELU net on its one unit, and
    # each of the three things that may make SELU look bad here taken away
    # (AlphaDropout, non-standardised inputs, the large learning rate), with
    # the ReLU net given the same help beside it.
    Variant(
        "selu", "one_unit", "The article's SELU net (lecun_normal, AlphaDropout(0.1)) on the one-unit net",
        units=ONE_UNIT, activation="selu", kernel_initializer="lecun_normal", alpha_dropout=0.1,
    ),
    Variant(
        "selu", "one_unit_no_alpha_dropout", "SELU with lecun_normal, without AlphaDropout, on the one-unit net",
        units=ONE_UNIT, activation="selu", kernel_initializer="lecun_normal",
    ),
    Variant(
        "selu", "no_alpha_dropout", "SELU with lecun_normal, without AlphaDropout",
        activation="selu", kernel_initializer="lecun_normal",
    ),
    Variant(
        "selu", "standardised", "SELU with lecun_normal and AlphaDropout(0.1), standardised inputs",
        activation="selu", kernel_initializer="lecun_normal", alpha_dropout=0.1, standardize=True,
    ),
    Variant(
        "selu", "lr_0.001", "SELU with lecun_normal and AlphaDropout(0.1), learning rate 0.001",
        activation="selu", kernel_initializer="lecun_normal", alpha_dropout=0.1, learning_rate=0.001,
    ),
    Variant(
        "selu", "standardised_no_alpha_dropout_lr_0.001",
        "SELU with lecun_normal, all three: no AlphaDropout, standardised inputs, learning rate 0.001",
        activation="selu", kernel_initializer="lecun_normal", standardize=True, learning_rate=0.001,
    ),
    Variant("relu_controls", "standardised", "ReLU (three layers), standardised inputs", standardize=True),
    Variant("relu_controls", "lr_0.001", "ReLU (three layers), learning rate 0.001", learning_rate=0.001),
    Variant(
        "relu_controls", "one_unit_standardised", "The one-unit ReLU net on standardised inputs",
        units=ONE_UNIT, standardize=True,
    ),
    # The second target: does what we saw hold for a target the one-unit net cannot fit?
    Variant("ripple", "one_layer", "Second target: the one-unit ReLU net", units=ONE_UNIT, target="ripple"),
    Variant("ripple", "three_layers", "Second target: three ReLU layers of 8 units", target="ripple"),
    Variant("ripple", "tanh", "Second target: tanh instead of ReLU", activation="tanh", target="ripple"),
    Variant(
        "ripple", "selu", "Second target: SELU with lecun_normal and AlphaDropout(0.1)",
        activation="selu", kernel_initializer="lecun_normal", alpha_dropout=0.1, target="ripple",
    ),
)

# The seed sweeps: the one-unit net over model seeds 0..N-1 (same data), as
# {sweep name: (what it asks, Variant keyword arguments)}.
SEED_SWEEPS = {
    "default": ("The one-unit ReLU net, Keras' default initializer", {}),
    "negative": ("The one-unit ReLU net, initial weights uniform(-1, 0)", {"kernel_initializer": "negative_uniform"}),
    "ripple": ("The one-unit ReLU net, default initializer, second target", {"target": "ripple"}),
}


def seed_sweep(seeds, sweeps=None):
    """The variants of the seed sweeps: per sweep, the one-unit net at model seeds ``0..seeds-1``.

    Runs are ``seeds/<sweep>/seed_<k>`` (``k`` zero-padded to at least two
    digits, so that they sort in order and a sweep of 10 seeds extended to
    30 in the same log folder keeps its first 10 runs). ``sweeps``: names
    from :data:`SEED_SWEEPS` (default: all).

    Raises:
      ValueError: naming ``seeds`` when it is not a positive int.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError("seeds must be a positive int, got %r" % (seeds,))
    width = max(2, len(str(seeds - 1)))
    found = []
    for sweep, (question, kwargs) in SEED_SWEEPS.items():
        if sweeps is not None and sweep not in sweeps:
            continue
        for seed in range(seeds):
            found.append(
                Variant(
                    SEEDS_EXPERIMENT, "%s/seed_%0*d" % (sweep, width, seed),
                    "%s, model seed %d" % (question, seed),
                    units=ONE_UNIT, model_seed=seed, **kwargs,
                )
            )
    return found


def sweep_of(variant):
    """The seed sweep a variant belongs to, or None for the other variants."""
    if variant.experiment != SEEDS_EXPERIMENT:
        return None
    return variant.name.split("/")[0]


def names():
    """Every experiment and run name that ``select`` accepts (seed sweeps by sweep, not by seed)."""
    from experiments import redo

    experiments = sorted({v.experiment for v in VARIANTS} | {SEEDS_EXPERIMENT})
    sweeps = ["%s/%s" % (SEEDS_EXPERIMENT, sweep) for sweep in SEED_SWEEPS]
    extra = [redo.REDO_EXPERIMENT] + ["%s/%s" % (redo.REDO_EXPERIMENT, arm) for arm in redo.ARMS]
    return experiments + [v.run for v in VARIANTS] + sweeps + extra + [redo.NONSTATIONARY_EXPERIMENT]


def select(only=None, seeds=None, redo_seeds=None):
    """The variants named by ``only`` (experiment names, ``experiment/variant``
    run names, ``seeds`` or ``seeds/<sweep>``), in the order of
    :data:`VARIANTS` followed by the seed sweeps; all of them when ``only`` is
    None or empty. ``seeds`` is the number of model seeds per sweep; 0 leaves
    the sweeps out unless ``only`` names one. ``redo_seeds`` (default
    ``seeds``) is the number per arm of the ReDo comparison (``redo``,
    ``redo/<arm>``), which also comes after them. ``nonstationary`` names no
    variant (the runner trains it apart).

    Raises:
      ValueError: naming ``only`` when a name is not an experiment or run,
        or ``seeds`` when ``only`` names a sweep and it is not a positive int.
    """
    if isinstance(only, str):
        only = [only]
    if only:
        known = set(names())
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ValueError(
                "only names %s, which is not an experiment or run; choose from: %s"
                % (", ".join(map(repr, unknown)), ", ".join(names()))
            )
    wanted = set(only or ())
    chosen = [v for v in VARIANTS if not wanted or v.experiment in wanted or v.run in wanted]
    if not wanted:
        if seeds:
            chosen += seed_sweep(seeds)
    elif SEEDS_EXPERIMENT in wanted:
        chosen += seed_sweep(seeds)
    else:
        sweeps = [s for s in SEED_SWEEPS if "%s/%s" % (SEEDS_EXPERIMENT, s) in wanted]
        if sweeps:
            chosen += seed_sweep(seeds, sweeps)
    from experiments import redo

    redo_seeds = seeds if redo_seeds is None else redo_seeds
    if not wanted:
        if redo_seeds:
            chosen += redo.sweep(redo_seeds)
    elif redo.REDO_EXPERIMENT in wanted:
        chosen += redo.sweep(redo_seeds)
    else:
        arms = [a for a in redo.ARMS if "%s/%s" % (redo.REDO_EXPERIMENT, a) in wanted]
        if arms:
            chosen += redo.sweep(redo_seeds, arms)
    return chosen
