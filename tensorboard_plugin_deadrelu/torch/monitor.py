"""The native PyTorch monitor: forward hooks that count, records written on request.

:class:`DeadReluMonitor` hooks a model's ReLU-family modules (or the ones
named), adds every output of a hooked module in training mode to per-unit
sums on the model's device, and writes one record per module when the user
calls :meth:`DeadReluMonitor.write` (the sums since the previous write) or
:meth:`DeadReluMonitor.probe` (a snapshot on given inputs in eval mode, with
gradient records when targets are given). Records go through
:class:`~tensorboard_plugin_deadrelu.writing.event_writer.RecordWriter`, so TensorFlow
is not needed.
"""

import torch
from torch import nn

from tensorboard_plugin_deadrelu.core import analysis
from tensorboard_plugin_deadrelu.core import sums as sums_lib
from tensorboard_plugin_deadrelu.writing import distributed
from tensorboard_plugin_deadrelu.writing import monitor as monitor_lib
from tensorboard_plugin_deadrelu.torch import recycling
from tensorboard_plugin_deadrelu.torch.gradients import CaptureGradient, summed_loss
from tensorboard_plugin_deadrelu.torch.modules import (
    check_gradients_visible,
    check_units_dims,
    describe,
    has_nonnegative_output,
    resolve_modules,
    unwrap_model,
)
from tensorboard_plugin_deadrelu.torch.sums import LayerSums, read_all

# Probe rows run through the model per call, bounding the memory of a large probe.
PROBE_BATCH_SIZE = 1024


def _rows_of(value, argument):
    """The number of rows (size of dim 0) of a tensor or of every tensor in a tuple/list/dict."""
    tensors = list(_tensors(value))
    if not tensors:
        raise ValueError("%s must be a tensor, or a tuple/list/dict of tensors, got %r" % (argument, type(value).__name__))
    sizes = {t.shape[0] if t.dim() else None for t in tensors}
    if len(sizes) != 1 or None in sizes:
        raise ValueError("%s: every tensor must have the same number of rows (dim 0), got shapes %s"
                         % (argument, [tuple(t.shape) for t in tensors]))
    return sizes.pop()


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _slice_rows(value, start, stop):
    """``value`` with every tensor cut to rows ``start:stop`` (structure kept)."""
    if isinstance(value, torch.Tensor):
        return value[start:stop]
    if isinstance(value, (tuple, list)):
        return type(value)(_slice_rows(item, start, stop) for item in value)
    if isinstance(value, dict):
        return {key: _slice_rows(item, start, stop) for key, item in value.items()}
    return value


def _call(model, inputs):
    """``model(inputs)``; a tuple/list is passed as positional arguments, a dict as keywords."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


class DeadReluMonitor:
    """Records how often each unit of a PyTorch model's ReLU modules outputs exactly zero.

    Creating it registers a forward hook on each watched module. While a
    module is in training mode, every call of it (under ``torch.no_grad()``
    or not; twice if it is called twice per forward) adds its output to
    per-unit sums kept on the output's device; nothing is read back to the
    host until :meth:`write`. In eval mode nothing is counted. Nothing is
    written by itself: :meth:`write` writes one record per module with the
    sums since the previous write, and :meth:`probe` one record per module
    for a fixed sample in eval mode.

    Example:
      >>> monitor = DeadReluMonitor(model, "logs/run1")
      >>> for epoch in range(epochs):
      ...     for x, y in loader:
      ...         ...                         # your training step
      ...     monitor.write(step=epoch + 1)   # the sums of the epoch, one record per module
      >>> monitor.close()

    Tags are the modules' qualified names from ``model.named_modules()``,
    with any ``DistributedDataParallel``, ``DataParallel`` or
    ``torch.compile`` wrapper left out (the same tags with and without it).

    Units: the last axis of outputs of rank 2 and 3 (``(N, F)``, ``(N, L,
    F)``), axis 1 of rank 4 and 5 (``NCHW``, ``NCDHW``); every other axis is
    reduced. A ``Conv1d``'s ``(N, C, L)`` output needs ``units_dims={name: 1}``.

    A module that saw nothing since the previous record (not called, or only
    in eval mode) gets a record with ``count`` 0, which the tab shows as "no
    data" at that step, and no ``dead_fraction`` scalar; a module never
    called yet gets no record (its width is unknown).

    Args:
      model: The ``nn.Module`` (or its ``DistributedDataParallel`` or
        ``torch.compile`` wrapper).
      log_dir: Directory of the run to write into (created if missing).
      writer: Instead of ``log_dir``: an existing
        ``torch.utils.tensorboard.SummaryWriter`` (records go into its run
        next to your scalars), or any object with ``add_event(event)``.
        :meth:`close` flushes it but leaves it open.
      modules: None for every ReLU-family module (see :func:`is_relu_family`),
        or a list of qualified module names or module objects.
      units_dims: Optional ``{module name: axis}`` overriding the units axis.
      count_training: False to count only in :meth:`probe` (a probing
        monitor adds no work to training steps).
      warn_above: Optional fraction in [0, 1]: log a warning naming the
        module, step and dead share when a module's share of dead units rises
        above it (once per crossing).
      stop_above: Optional fraction in [0, 1]: like ``warn_above``, and
        :attr:`should_stop` is True after a record with a share above it;
        check it in your loop (``if monitor.should_stop: break``).
      pairs: Optional ``{module tag: (producer name, consumer name)}`` for
        :meth:`recycle`: the Linear/Conv layers around a watched module
        that is not in an ``nn.Sequential`` chain.

    Raises:
      ValueError: naming the argument: ``model`` is not a module, ``modules``
        names something that is not in it (or there is no ReLU-family
        module), bad ``units_dims``, a ``warn_above``/``stop_above`` outside
        [0, 1], or neither/both of ``log_dir`` and ``writer``.
    """

    def __init__(
        self, model, log_dir=None, *, writer=None, modules=None, units_dims=None, count_training=True,
        warn_above=None, stop_above=None, pairs=None,
    ):
        if not isinstance(model, nn.Module):
            raise ValueError("model must be a torch.nn.Module, got %r" % (type(model).__name__,))
        self.model = model
        # Probes run this, without DDP (no collectives) or torch.compile (no recompiling for eval mode).
        self._inner = unwrap_model(model)
        watched = resolve_modules(self._inner, modules)
        self.tags = [tag for tag, _ in watched]
        dims = check_units_dims(units_dims, self.tags)
        self.count_training = bool(count_training)
        self._modules = [module for _, module in watched]
        self._layers = [
            LayerSums(tag, dims.get(tag), nonnegative=has_nonnegative_output(module)) for tag, module in watched
        ]
        self._units = {}  # tag -> width, once known
        self._probe_layers = None  # while probing: where the hooks count
        self._closed = False
        self._loop = monitor_lib.RecordLoop(
            distributed.torch_record_writer(log_dir, writer=writer),  # rank 0 only
            warn_above=warn_above,
            stop_above=stop_above,
        )
        self._handles = [
            module.register_forward_hook(self._counting_hook(index)) for index, module in enumerate(self._modules)
        ]
        self.pairs = self._check_pairs(pairs)
        self._last_record = None  # (step, {tag: sums}) of the last record, until recycled
        # Input shapes of the nn.Flatten layers after watched modules: a channel's columns in the next Linear.
        self._flatten_shapes = {}
        self._handles += [
            flatten.register_forward_hook(self._flatten_hook)
            for flatten in recycling.flattens_after(self._inner, list(zip(self.tags, self._modules)))
        ]

    def _check_pairs(self, pairs):
        if pairs is None:
            return {}
        if not hasattr(pairs, "items"):
            raise ValueError("pairs must be a mapping {module tag: (producer name, consumer name)}, got %r" % (pairs,))
        for tag in pairs:
            if tag not in self.tags:
                raise ValueError("pairs: %r is not a watched module; watched: %s" % (tag, self.tags))
        return dict(pairs)

    @torch.compiler.disable
    def _flatten_hook(self, module, args, output):
        if args and isinstance(args[0], torch.Tensor):
            self._flatten_shapes[id(module)] = tuple(args[0].shape)

    @property
    def log_dir(self):
        """The run's directory (None for a ``writer`` that does not say)."""
        return self._loop.writer.log_dir

    @property
    def should_stop(self):
        """True when the last record found a module's dead share above ``stop_above``."""
        return self._loop.should_stop

    def _counting_hook(self, index):
        # Run eagerly inside a torch.compile'd model: the compiled graph breaks
        # around each watched module instead of tracing the sums (whose
        # finiteness check reads a value) and specialising on Python counters.
        @torch.compiler.disable
        def hook(module, args, output):
            if self._closed:  # code compiled while the hook existed may still call it
                return
            if self._probe_layers is not None:
                layer = self._probe_layers[index]
            elif module.training and self.count_training:
                layer = self._layers[index]
            else:
                return
            if not isinstance(output, torch.Tensor):
                raise ValueError(
                    "module %r returned %s, not a tensor: only modules returning one tensor can be watched"
                    % (layer.tag, type(output).__name__)
                )
            with torch.no_grad():
                layer.add(output)

        return hook

    def write(self, step):
        """Writes one record per watched module with the sums since the previous write, then resets them.

        Reads the sums back from the device once for all modules. Also
        writes a ``deadrelu/<tag>/dead_fraction`` scalar per module that saw
        something. Under ``torch.distributed`` (e.g. DistributedDataParallel)
        call it on every rank: the sums of all ranks are added up (one
        ``all_reduce``) and only rank 0 writes (see :mod:`distributed`).

        Args:
          step: int, greater than every step written before by this monitor.

        Returns:
          ``{tag: share of dead units}`` of the modules that saw something.
        """
        step = self._loop.check_step(step)
        distributed.torch_sum_over_ranks(self._layers)  # DDP: one all_reduce of every rank's sums
        stats = read_all(self._layers)
        for layer in self._layers:
            layer.reset()
        return self._write(step, stats, None, "counted over every forward pass in training mode since the previous record")

    def reset(self):
        """Forgets the sums since the previous write (e.g. after warm-up batches)."""
        for layer in self._layers:
            layer.reset()

    def probe(self, x, step, targets=None, loss_fn=None):
        """Writes one record per watched module for the inputs ``x`` with the weights of now.

        The model runs in eval mode (dropout off, batch norm with its running
        statistics) and without autograd, in chunks of 1,024 rows; every
        module's previous mode is restored afterwards. It runs without its
        ``DistributedDataParallel`` or ``torch.compile`` wrapper: eagerly, with
        no collective call, so one rank can probe alone. The sums counted for
        :meth:`write` are left alone.

        With ``targets``, each module also gets a gradient record (tag
        ``<module>/gradients``): for each probe example ``i`` and unit, the
        value of d(loss_i)/dz, where ``z`` is the module's input (its
        pre-activation) and the gradient is the one that flows through this
        activation. ``zeros`` counts examples where it is exactly 0 (a dead
        ReLU unit: all of them). The loss differentiated is the sum over
        examples of ``loss_fn(outputs, targets)``; parameters' ``.grad`` are
        not touched.

        Args:
          x: The model's input: a tensor, a tuple/list of positional inputs
            or a dict of keyword inputs, each with the probe rows on dim 0.
          step: int, greater than every step written before by this monitor.
          targets: Optional targets (tensor or tuple/list/dict of tensors)
            with the same rows, for gradient records.
          loss_fn: With targets: ``(outputs, targets) -> per-example losses``;
            a ``torch.nn`` loss such as ``nn.CrossEntropyLoss()`` is used with
            ``reduction="sum"``.

        Returns:
          ``{tag: share of dead units}``, as :meth:`write`.

        Raises:
          ValueError: naming ``x``, ``targets``, ``loss_fn`` or ``step``.
        """
        step = self._loop.check_step(step)
        rows = _rows_of(x, "x")
        loss = None
        if targets is not None:
            if _rows_of(targets, "targets") != rows:
                raise ValueError("targets must have the %d rows of x, got %d" % (rows, _rows_of(targets, "targets")))
            loss = summed_loss(loss_fn)
            check_gradients_visible(zip(self.tags, self._modules))
        activations = [LayerSums(layer.tag, layer.units_dim, layer.nonnegative) for layer in self._layers]
        gradients = [LayerSums(layer.tag, layer.units_dim) for layer in self._layers] if loss else None
        modes = [(module, module.training) for module in self._inner.modules()]
        self._inner.eval()
        self._probe_layers = activations
        try:
            for start in range(0, rows, PROBE_BATCH_SIZE):
                chunk = _slice_rows(x, start, start + PROBE_BATCH_SIZE)
                if loss is None:
                    with torch.no_grad():
                        _call(self._inner, chunk)
                else:
                    self._probe_gradients(chunk, _slice_rows(targets, start, start + PROBE_BATCH_SIZE), loss, gradients)
        finally:
            self._probe_layers = None
            for module, training in modes:
                module.training = training
        where = "on a probe of %d rows in eval mode" % rows
        return self._write(
            step, read_all(activations), read_all(gradients) if gradients else None, where
        )

    def _probe_gradients(self, x, targets, loss, gradients):
        """One probe chunk with autograd on: adds each module's d(loss)/d(input) to ``gradients``."""
        inputs = []

        def capturing_hook(index):
            def pre_hook(module, args):
                z = args[0]
                if not z.requires_grad:
                    z = z.detach().requires_grad_()
                inputs.append(z)

                def receive(grad):
                    with torch.no_grad():
                        gradients[index].add(grad)

                return (CaptureGradient.apply(z, receive),) + tuple(args[1:])

            return pre_hook

        handles = [module.register_forward_pre_hook(capturing_hook(i)) for i, module in enumerate(self._modules)]
        try:
            with torch.enable_grad():
                value = loss(_call(self._inner, x), targets)
                if inputs and value.requires_grad:
                    torch.autograd.grad(value, inputs, allow_unused=True)
        finally:
            for handle in handles:
                handle.remove()

    def recycle(self, optimizer, tau=0.0, initializer=None, pairs=None):
        """Recycles the units the last record found dead (or τ-dormant): ReDo (Sokar et al. 2023).

        Call it right after :meth:`write` or :meth:`probe`. For each watched
        module and each of its units that the last record found dead
        (``tau=0``: exactly zero on every input) or τ-dormant (``tau > 0``:
        score ``mean|a_u| / layer mean <= tau``, the tab's definition), it

        * draws the unit's incoming weights afresh (row u of the Linear/Conv
          before it, as its ``reset_parameters`` draws them, or with
          ``initializer``) and sets its bias to 0;
        * sets its outgoing weights (column u of the Linear/Conv after it; the
          H*W columns of channel u after an ``nn.Flatten``) to 0, so the
          model's output is the same right after recycling; that layer's bias
          and its other weights are untouched (the output layer is never
          re-drawn);
        * resets a BatchNorm between the two for that channel (running mean
          0, variance 1, weight 1, bias 0);
        * zeros ``optimizer``'s state of exactly those entries (Adam's
          ``exp_avg``/``exp_avg_sq``, SGD's ``momentum_buffer``); Adam's
          ``step`` is one per tensor and is left alone, since resetting it
          would change the bias correction of every other unit.

        The layers around a module are found by walking its ``nn.Sequential``
        (also nested), over Dropout, Identity, pooling, BatchNorm and Flatten;
        for other models name them in ``pairs``.

        The units reset are recorded under ``<tag>/recycled`` at the step of
        the record that found them (``count`` 1, ``zeros`` 1 per reset unit).
        The sums counted since that record are dropped: the next record
        judges only batches after the recycling, and a second call without a
        new record raises. Under DDP call it on every rank after
        :meth:`write`: all ranks reset the same units with rank 0's draw.

        Args:
          optimizer: The ``torch.optim`` optimizer of the model (or None).
          tau: 0 for dead units, a number > 0 for τ-dormant units.
          initializer: Optional ``callable(tensor)`` filling a tensor of the
            producer's weight shape in place (e.g. ``nn.init.xavier_uniform_``,
            dopamine's choice); the recycled rows are copied from it.
          pairs: Optional ``{module tag: (producer name, consumer name)}``,
            added to the monitor's ``pairs``.

        Returns:
          ``{tag: [indices of the units reset]}`` of the modules in the last
          record.

        Raises:
          ValueError: no record since the previous recycling, a bad ``tau``
            or ``pairs``, or a module whose layers cannot be found (the
            message names it and says how to declare ``pairs``). Nothing is
            changed then.
        """
        tau = analysis.check_tau(tau)
        if self._last_record is None:
            raise ValueError(
                "recycle: no record since the previous recycling; call write(step) or probe(x, step) first"
            )
        declared = dict(self.pairs)
        declared.update(self._check_pairs(pairs))
        step, stats = self._last_record
        plans = []
        # Every module's layers and widths are checked before anything changes.
        for order, (tag, module) in enumerate(zip(self.tags, self._modules)):
            if tag not in stats:
                continue
            if tag in declared:
                neighbours = recycling.declared_neighbours(self._inner, tag, declared[tag])
            else:
                neighbours = recycling.find_neighbours(self._inner, tag, module)
            units = len(stats[tag]["zeros"])
            per_unit = recycling.columns_per_unit(neighbours, units, self._flatten_shapes)
            plans.append((tag, order, units, neighbours, per_unit, monitor_lib.units_to_recycle(stats[tag], tau)))
        for tag, order, units, neighbours, per_unit, chosen in plans:
            recycling.recycle_units(neighbours, chosen.tolist(), per_unit, optimizer, initializer)
        self._loop.write_recycled(step, [(tag, order, units, chosen) for tag, order, units, _, _, chosen in plans])
        self._last_record = None
        self.reset()
        return {tag: chosen.tolist() for tag, _, _, _, _, chosen in plans}

    def _write(self, step, stats, gradient_stats, where):
        """Writes the records (and gradient records) of ``stats`` ``{tag: sums or None}`` at ``step``."""
        records = []
        for order, (tag, module) in enumerate(zip(self.tags, self._modules)):
            layer_sums = self._or_empty(tag, stats[tag])
            if layer_sums is None:
                continue
            what = "module `%s` (%s), %s" % (tag, describe(module), where)
            records.append(
                monitor_lib.LayerRecord(
                    tag=tag,
                    order=order,
                    sums=layer_sums,
                    description="Outputs of " + what + ".",
                    gradient_sums=None if gradient_stats is None else self._or_empty(tag, gradient_stats[tag]),
                    gradient_description="Gradients d(loss_i)/dz of %s, with respect to its input z (loss_i: "
                    "the loss of probe example i)." % what,
                )
            )
        shares = self._loop.write(step, records)
        self._last_record = (step, {r.tag: r.sums for r in records if r.sums["count"] > 0})
        return shares

    def _or_empty(self, tag, layer_sums):
        """``layer_sums``, or empty sums (``count`` 0) for a module whose width is known; None if unknown."""
        if layer_sums is not None:
            self._units[tag] = len(layer_sums["zeros"])
            return layer_sums
        units = self._units.get(tag)
        return None if units is None else sums_lib.empty(units)

    def close(self):
        """Removes the hooks and closes the log (only flushes a ``writer`` you gave). Idempotent."""
        self._closed = True
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
