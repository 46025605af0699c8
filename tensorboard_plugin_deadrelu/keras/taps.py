"""Seeing the monitored layers' outputs while a step function runs or is traced.

:func:`patch_attribute` swaps an instance attribute and returns its undo;
:class:`LayerTap` uses it to wrap each monitored layer's ``call`` only
inside :meth:`LayerTap.active`, where every call hands its output to a
consumer (the training-time counter, or the probe).
"""

import contextlib
import threading


def patch_attribute(obj, name, value):
    """Sets an instance attribute and returns a function that undoes it."""
    had_own = name in vars(obj)
    previous = vars(obj).get(name)
    setattr(obj, name, value)

    def restore():
        if had_own:
            setattr(obj, name, previous)
        else:
            delattr(obj, name)

    return restore


class LayerTap:
    """Hands each monitored layer's output to a consumer while a step runs or is traced.

    The layers' ``call`` is wrapped on the instance only inside
    :meth:`active` and restored when the block exits, however it exits, so a
    ``fit()`` that raises leaves no wrapper behind. With TensorFlow and JAX
    the block spans the trace of a step function (the compiled step keeps
    the reductions, not the wrapper); with PyTorch it spans every eager
    step. A depth counter rather than a flag keeps it right when
    MirroredStrategy traces replicas in interleaved threads.
    """

    def __init__(self, layers):
        self.layers = list(layers)
        self._consumer = None
        self._depth = 0
        self._lock = threading.Lock()
        self._restorers = []
        self._wrappers = {}  # layer index: (the call wrapped, its wrapper)

    def _install(self):
        for index, layer in enumerate(self.layers):
            original = layer.call
            # The same wrapper every time the same call is wrapped: a compiler
            # that guards on the layer's ``call`` (torch.compile) sees no change.
            wrapped = self._wrappers.get(index)
            if wrapped is None or wrapped[0] != original:
                wrapped = self._wrappers[index] = (original, self._tapped(index, original))
            self._restorers.append(patch_attribute(layer, "call", wrapped[1]))

    def _uninstall(self):
        while self._restorers:
            self._restorers.pop()()

    def _tapped(self, index, original_call):
        def call(*args, **kwargs):
            outputs = original_call(*args, **kwargs)
            consumer = self._consumer
            if consumer is not None:
                consumer(index, outputs)
            return outputs

        return call

    @contextlib.contextmanager
    def active(self, consumer):
        """Within the block, every monitored layer call passes its output to ``consumer(index, output)``."""
        with self._lock:
            if self._depth and self._consumer is not consumer:
                raise RuntimeError("a layer tap is already active with another consumer")
            if not self._depth:
                self._install()
            self._consumer = consumer
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if not self._depth:
                    self._consumer = None
                    self._uninstall()
