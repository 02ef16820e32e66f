"""fakescope's dashboard: `python app.py [--cache-dir data/cache] [--host 127.0.0.1] [--port 8050]
[--no-demo] [--debug]`.

On a cache folder without cache.json (and without --no-demo) it first builds the demo
(`pipeline.demo`, the only part that needs torch) and then serves. For gunicorn:
`gunicorn 'app:server'` serves the cache named by $FAKESCOPE_CACHE_DIR (or data/cache).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cache import CacheError, CachePaths, resolve_cache_dir
from cache.io import remove_own_temporaries
from cache.reader import check_cache_version
from dashboard.app import create_app
from pipeline.errors import UserError, sigterm_as_interrupt

__all__ = ["create_app", "main", "server"]


def __getattr__(name: str):
    # `server` is built on first use, so importing this module (tests, tools) builds nothing.
    if name == "server":
        app = create_app(resolve_cache_dir())
        globals()["server"] = app.server
        return app.server
    raise AttributeError(name)


def build_demo_into(cache_dir: Path) -> Path:
    """Build the demo so that its cache lands in `cache_dir` (the demo's out is its parent)."""
    from pipeline.demo import build_demo  # torch: only here

    print(f"fakescope: {cache_dir} holds no cache yet; building the demo (a few minutes, once).", flush=True)
    built = Path(build_demo(cache_dir.parent, progress=lambda message: print(message, flush=True)))
    if built.resolve() != cache_dir.resolve():
        raise CacheError(f"The demo was built in {built}, not {cache_dir}; run with --cache-dir {built}.")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve the fakescope dashboard.")
    parser.add_argument("--cache-dir", help="cache folder (default: $FAKESCOPE_CACHE_DIR or data/cache)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port (default: 8050)")
    parser.add_argument("--no-demo", action="store_true", help="never build the demo; fail on an empty cache")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloader off)")
    args = parser.parse_args(argv)

    sigterm_as_interrupt()
    cache_dir = resolve_cache_dir(args.cache_dir)
    try:
        if not CachePaths(cache_dir).cache_json.exists() and not args.no_demo:
            build_demo_into(cache_dir)
        check_cache_version(cache_dir)
    except (CacheError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        remove_own_temporaries()
        print("interrupted: run the same command again to build the demo.", file=sys.stderr)
        return 130
    app = create_app(cache_dir)
    print(f"fakescope: serving {cache_dir} on http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, debug=args.debug, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
