"""The ``deadrelu report`` command: the tab's numbers in a terminal, straight from event files.

``cli`` parses arguments and prints; ``logdir_reader`` reads a logdir's records
without TensorBoard or TensorFlow.
"""
