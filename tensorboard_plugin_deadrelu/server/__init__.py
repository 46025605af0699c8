"""The TensorBoard side: ``loader`` (the entry point and its ``options``), ``plugin``
(the HTTP routes), ``reader`` (series through the data provider, with bounded
``caching``), ``encoding`` (JSON and binary heatmaps) and ``responses`` (HTTP
answers and static files).
"""
