"""Who writes a run when training is spread over several workers or ranks.

Dead ReLU records are sums, so under data parallelism a record is the sum over
every worker's batches, and a run is written once. The rule, for every
framework:

* every worker takes part in summing (a collective: all workers must call it,
  in the same order, or the others wait forever);
* only the chief writes, straight into the run's folder; the other workers
  create no file at all.

TensorFlow (``tf.distribute``): the chief is the task that
``strategy.extended.should_save_summary`` names, the same rule as
``multi_worker_util.is_chief`` (task type ``"chief"``, or worker 0 when the
cluster has no chief) that tf.keras 2's TensorBoard callback followed through
``distributed_file_utils``. Single-machine strategies and no strategy at all
have one writer, so nothing changes there. Reading an ``ON_READ``/``SUM``
variable (the :class:`summary.Accumulator`'s sums) under
``MultiWorkerMirroredStrategy`` is itself the cross-worker all-reduce.

PyTorch (``torch.distributed``): the chief is rank 0 of the default process
group; the sums of every rank are added up with one ``all_reduce`` per write.

Keras 3 (:func:`keras_is_chief`): the rule of the backend it runs on.

Frameworks that write through :mod:`event_writer` give a non-chief worker a
:class:`Discard` sink: records are built (the dead shares that early-warning
logic acts on are the same on every worker) and dropped.

TensorFlow and PyTorch are imported lazily.
"""


def _tf():
    import tensorflow as tf

    return tf


class Discard:
    """An event sink (``add_event``, ``flush``) that drops every event: the writer of a non-chief worker.

    Given to :class:`event_writer.RecordWriter` as its ``writer``, it makes a
    writer that creates no file; ``get_logdir()`` still names the run.
    """

    def __init__(self, log_dir=None):
        self._log_dir = log_dir

    def add_event(self, event):
        pass

    def flush(self):
        pass

    def get_logdir(self):
        return self._log_dir


# --------------------------------------------------------------------------
# TensorFlow


def tf_is_chief(strategy=None):
    """Whether this TensorFlow task writes summaries under ``strategy``.

    Args:
      strategy: A ``tf.distribute.Strategy``, or None for the current one
        (``tf.distribute.get_strategy()``).

    Returns:
      False only on a non-chief worker of a multi-worker strategy.
    """
    if strategy is None:
        strategy = _tf().distribute.get_strategy()
    return bool(strategy.extended.should_save_summary)


def tf_summary_writer(log_dir, strategy=None):
    """A summary writer for ``log_dir`` that writes on the chief only.

    The chief gets ``tf.summary.create_file_writer(log_dir)``; any other
    worker gets ``tf.summary.create_noop_writer()``, under which summary ops
    do nothing and no event file is created (summaries of a non-chief worker
    would repeat the chief's). Use it for every writer of a multi-worker job.

    Args:
      log_dir: The run's directory.
      strategy: The ``tf.distribute.Strategy`` the job trains under (None:
        the current one).
    """
    tf = _tf()
    if tf_is_chief(strategy):
        return tf.summary.create_file_writer(log_dir)
    return tf.summary.create_noop_writer()


def tf_strategy_of(variables):
    """The ``tf.distribute.Strategy`` that ``variables`` were created under, or None for plain variables."""
    for variable in variables:
        strategy = getattr(variable, "distribute_strategy", None)
        if strategy is not None:
            return strategy
    return None


def tf_sums_to_write(variable_groups):
    """The values a writer of summed variables should write, and whether this task writes.

    Distributed variables are read now, on every worker, in the order given:
    under ``MultiWorkerMirroredStrategy`` each read is an all-reduce that the
    chief's write waits on, so a worker that skipped it (a non-chief, or a
    chief with ``tf.summary.record_if`` off) would leave the others hanging.
    Plain variables are returned as they are, to be read only if a summary
    is actually recorded.

    Args:
      variable_groups: A list of tuples of variables (one tuple per record).

    Returns:
      ``(groups, writes_here)``: the groups with each variable replaced by its
      value when distributed, and False on a non-chief worker, which must not
      write.
    """
    strategy = tf_strategy_of(v for group in variable_groups for v in group)
    if strategy is None:
        return variable_groups, True
    return [tuple(v.read_value() for v in group) for group in variable_groups], tf_is_chief(strategy)


# --------------------------------------------------------------------------
# Keras 3


def keras_is_chief(model):
    """Whether this process writes the records of Keras ``model``'s training.

    On the TensorFlow backend: the chief of the model's ``tf.distribute``
    strategy (:func:`tf_is_chief`); on the torch backend: rank 0
    (:func:`torch_is_chief`); on JAX: process 0 (``jax.process_index()``).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return tf_is_chief(model.distribute_strategy)
    if backend == "torch":
        return torch_is_chief()
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    return True


# --------------------------------------------------------------------------
# PyTorch


def torch_is_chief():
    """Whether this PyTorch process writes: rank 0 of the default process group, or no process group."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def torch_record_writer(log_dir=None, writer=None):
    """``event_writer.RecordWriter(log_dir, writer=writer)`` on the chief; elsewhere one that creates no file.

    Arguments are checked alike on every rank (a mistake raises everywhere).
    """
    from tensorboard_plugin_deadrelu.writing import event_writer

    if torch_is_chief() or (log_dir is None) == (writer is None):
        return event_writer.RecordWriter(log_dir, writer=writer)
    return event_writer.RecordWriter(writer=Discard(None if log_dir is None else str(log_dir)))


def torch_sum_over_ranks(layers):
    """Replaces the sums of ``layers`` by their sums over all ranks, with one ``all_reduce``.

    Call it on every rank, in the same order (it is a collective); without a
    process group (or with one rank) it does nothing.

    Args:
      layers: Objects with ``count`` (an int) and ``sums`` (a float64 tensor,
        or None while the layer's width is unknown). Every rank must know the
        same layers' widths: a module that ran on one rank runs on all under
        ``DistributedDataParallel``.
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    known = [layer for layer in layers if layer.sums is not None]
    if not known:
        return
    device = known[0].sums.device
    # float64 holds the counts exactly up to 2**53, like the sums themselves.
    flat = torch.cat(
        [torch.tensor([float(layer.count) for layer in known], dtype=torch.float64, device=device)]
        + [layer.sums.reshape(-1).to(device) for layer in known]
    )
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    counts = flat[: len(known)].tolist()
    offset = len(known)
    for layer, count in zip(known, counts):
        layer.count = int(count)
        size = layer.sums.numel()
        layer.sums.copy_(flat[offset : offset + size].reshape(layer.sums.shape))
        offset += size
