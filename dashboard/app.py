"""`create_app(cache_dir)`: the Dash app over one cache folder (for `python app.py`,
gunicorn and the tests). Background callbacks run through a DiskcacheManager over one
diskcache in the cache folder (`CachePaths.jobs_dir`)."""

from __future__ import annotations

from pathlib import Path

import dash_bootstrap_components as dbc  # noqa: F401  (registers the components' scripts)
import diskcache
from dash import Dash, DiskcacheManager

from cache import CacheError, resolve_cache_dir
from dashboard import layout
from dashboard.callbacks import register
from dashboard.data import DashboardData
from dashboard.images import register_image_route
from pipeline.projection import preload

ASSETS = Path(__file__).resolve().parent / "assets"


def _dash(**kwargs) -> Dash:
    # Bootstrap's CSS ships in assets/: the page needs nothing from the internet.
    return Dash(__name__, title="fakescope", assets_folder=str(ASSETS), update_title=None, **kwargs)


def create_app(cache_dir: str | Path | None = None) -> Dash:
    """The dashboard over `cache_dir` (default: $FAKESCOPE_CACHE_DIR or data/cache).

    A cache that cannot be read gives an app whose page says why, in one sentence."""
    cache_dir = resolve_cache_dir(cache_dir)
    try:
        data = DashboardData(cache_dir)
    except CacheError as exc:
        app = _dash()
        message = str(exc)
        app.layout = lambda: layout.error_page(message)
        return app
    data.paths.jobs_dir.mkdir(parents=True, exist_ok=True)
    preload()  # background jobs are forked from this process: they start with these imports done
    manager = DiskcacheManager(diskcache.Cache(str(data.paths.jobs_dir)))
    app = _dash(background_callback_manager=manager)
    register_image_route(app.server, data.reader)

    def serve_layout():
        try:
            counts = data.dataset_counts()
            return layout.page(str(cache_dir), data.checkpoints(), data.default_checkpoints(),
                               layout.dataset_options(counts))
        except CacheError as exc:
            return layout.error_page(str(exc))

    app.layout = serve_layout
    register(app, data, manager)
    return app
