"""The core both sides share: what a record is (``metadata``), the four per-unit sums
and their one reduction rule (``sums``), what the sums mean (``analysis``: dead,
nearly dead, death step, dormant), the one order of names (``ordering``), and
records stacked into series (``series``). numpy and TensorBoard's protos only.
"""
