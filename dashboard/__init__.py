"""The Dash dashboard: reads the cache (and the shards, for images), never torch.

`create_app(cache_dir)` in `dashboard.app` builds it; `app.py` at the top level serves it.
"""
