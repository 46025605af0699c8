"""The plugin's caches: bounded in bytes, least recently used entries go first.

The plugin caches stacked series, encoded answers and per-layer summaries; a
ResNet- or Transformer-size logdir would not fit them all, so every cache is
bounded in bytes (``--deadrelu_cache_mb``, see loader.py).
"""

import threading

import cachetools


class ByteLRU:
    """A thread-safe map bounded in bytes: least recently used entries go first.

    Each entry is stored with the data version it was computed from; a lookup
    with another version misses. An entry larger than the whole limit is not
    kept (the caller still uses the value it computed).
    """

    def __init__(self, limit_bytes):
        self.limit = int(limit_bytes)
        # Values are (version, value, nbytes); cachetools sizes them by nbytes.
        self._entries = cachetools.LRUCache(maxsize=self.limit, getsizeof=lambda entry: entry[2])
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._entries)

    @property
    def nbytes(self):
        """Bytes held by the entries now (at most :attr:`limit`)."""
        return self._entries.currsize

    def get(self, key, version):
        """The value stored for ``key`` at ``version``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            return entry[1]

    def put(self, key, version, value, nbytes):
        """Stores ``value`` (``nbytes`` large), evicting the least recently used entries to fit."""
        with self._lock:
            self._entries.pop(key, None)
            if nbytes <= self.limit:
                self._entries[key] = (version, value, nbytes)

    def forget(self, predicate):
        """Drops every entry whose key satisfies ``predicate``."""
        with self._lock:
            for key in [k for k in self._entries if predicate(k)]:
                del self._entries[key]
