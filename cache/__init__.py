"""The on-disk contract between the pipeline and the dashboard (schema version 1).

This package owns the cache folder's layout, the Parquet schemas, atomic writes and the
one reader of the cache. It depends on pyarrow and nothing of ours, so the pipeline and
the dashboard can change independently while the contract holds.
"""

from cache.errors import CacheError
from cache.paths import CachePaths, resolve_cache_dir
from cache.reader import CacheReader
from cache.schema import ERROR_REASONS, LABEL_NAMES, SCHEMA_VERSION

__all__ = [
    "CacheError",
    "CachePaths",
    "CacheReader",
    "ERROR_REASONS",
    "LABEL_NAMES",
    "SCHEMA_VERSION",
    "resolve_cache_dir",
]
