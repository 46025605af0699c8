"""Fixtures shared by the tests that read event files through TensorBoard's own
data provider (``test_series``, ``test_plugin_routes``): activations whose dead
units are known, their record sums computed here with numpy (the ground truth,
independent of ``summary``'s reduction), and a data provider over a logdir.
"""

import numpy as np

from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

from tensorboard_plugin_deadrelu.core import metadata
from tests.oracle import numpy_sums


def dying_activations(rng, step, units, batch):
    """ReLU outputs ``[batch, units]`` at ``step`` where unit u is exactly zero on every input from step u on."""
    x = np.maximum(rng.normal(size=(batch, units)).astype(np.float32), 0)
    x[:, :step] = 0.0
    return x


def record_sums(x):
    """The four sums of values ``x`` (``[batch, units]``) as a record stores them (``abs_sum`` float32)."""
    sums = numpy_sums(x)
    sums["abs_sum"] = sums["abs_sum"].astype(np.float32)
    return sums


def data_provider(logdir, sample_limit=0):
    """``(multiplexer, provider)``: TensorBoard's Python data provider over ``logdir``, loaded once.

    ``sample_limit`` is the Dead ReLU series' reservoir size (0 keeps every step);
    call ``multiplexer.Reload()`` to pick up new events.
    """
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={metadata.PLUGIN_NAME: sample_limit})
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return multiplexer, tb_data_provider.MultiplexerDataProvider(multiplexer, logdir)


class CountingProvider:
    """Wraps a data provider and records every ``read_tensors`` call as
    ``(runs, tags, downsample)``, so tests can see which records were read."""

    def __init__(self, inner):
        self._inner = inner
        self.reads = []
        self.lists = 0

    def list_tensors(self, *args, **kwargs):
        self.lists += 1
        return self._inner.list_tensors(*args, **kwargs)

    def read_tensors(self, ctx, *, experiment_id, plugin_name, downsample, run_tag_filter):
        self.reads.append(
            (
                tuple(sorted(run_tag_filter.runs or ())),
                tuple(sorted(run_tag_filter.tags or ())),
                downsample,
            )
        )
        return self._inner.read_tensors(
            ctx, experiment_id=experiment_id, plugin_name=plugin_name, downsample=downsample, run_tag_filter=run_tag_filter
        )

    def read_tags(self):
        """The set of ``(run, tag)`` whose records were read so far."""
        return {(run, tag) for runs, tags, _ in self.reads for run in runs for tag in tags}

    def __getattr__(self, name):
        return getattr(self._inner, name)
