"""The training side: everything that turns activations into records on disk.

``summary`` (TensorFlow summary ops, the Accumulator, the numpy twins),
``event_writer`` (event files without TensorFlow), ``distributed`` (who writes
under several workers) and ``monitor`` (what every framework's monitor does per
record). The framework adapters (``keras``, ``torch``, ...) sit beside this
package and call into it.
"""
