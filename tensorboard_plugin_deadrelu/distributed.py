"""Who writes a run when training is spread over several workers or ranks.

Dead ReLU records are sums, so under data parallelism a record is the sum over
every worker's batches, and a run is written once. The rule, for every
framework:

* every worker takes part in summing (a collective: all workers must call it,
  in the same order, or the others wait forever);
* only the chief writes, straight into ``log_dir``; the other workers create
  no file at all.

TensorFlow (``tf.distribute``): the chief is the task that
``strategy.extended.should_save_summary`` names, the same rule as
``multi_worker_util.is_chief`` (task type ``"chief"``, or worker 0 when the
cluster has no chief) that tf.keras 2's TensorBoard callback followed through
``distributed_file_utils``. Single-machine strategies and no strategy at all
have one writer, so nothing changes there. Reading an ``ON_READ``/``SUM``
variable (the :class:`summary.Accumulator`'s sums) under
``MultiWorkerMirroredStrategy`` is itself the cross-worker all-reduce.

PyTorch (``torch.distributed``): the chief is rank 0 of the default process
group.

TensorFlow and PyTorch are imported lazily.
"""


def _tf():
    import tensorflow as tf

    return tf


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
