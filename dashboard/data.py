"""What the dashboard reads and keeps: frames from the one CacheReader, and saved layouts.

Read-only data (predictions of a checkpoint over some datasets, their scores) is loaded
once per process and kept in a small bounded memo keyed by what produced it (the
checkpoint's manifest hash). Layouts are saved under `CachePaths.projection(key)` with
`cache.io.write_table`, keyed by the manifest plus the method and its parameters, so
choosing the same settings again, or restarting the server, shows them at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from cache import CacheError, CacheReader
from cache.io import atomic_path, read_file_metadata, write_table
from cache.schema import PROJECTION_SCHEMA
from dashboard.scores import PaneScores
from pipeline.projection import project, projection_key, stratified_sample


class _Memo:
    """A small LRU of read-only values; safe across Flask's threads."""

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def _member(values, wanted) -> np.ndarray:
    """Boolean mask of `values` found in `wanted`, by hashing (50 ms at 100k sample ids).

    np.isin on object arrays took minutes at 100k; pandas 3 would infer its `str` dtype for
    a plain pd.Series of strings and take a second, so both sides stay `object`."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object).isin(np.asarray(wanted, dtype=object)).to_numpy()


class DashboardData:
    """The dashboard's view of one cache folder. Raises CacheError for a folder it cannot read."""

    def __init__(self, cache_dir: str | Path):
        self.reader = CacheReader(cache_dir)
        self.paths = self.reader.paths
        self._memo = _Memo(size=24)

    # -- what exists ----------------------------------------------------------------------
    def checkpoints(self) -> list[str]:
        return self.reader.checkpoints()

    def default_checkpoints(self) -> tuple[str | None, str | None]:
        """The two most recent checkpoints (older left, newer right); None where missing."""
        names = self.checkpoints()
        if not names:
            return None, None
        if len(names) == 1:
            return names[0], None
        return names[-2], names[-1]

    def dataset_counts(self) -> pd.DataFrame:
        return self.reader.dataset_counts()

    def identity(self, checkpoint: str) -> str:
        """What a checkpoint's tables depend on: weights hash, embedding and sample count."""
        manifest = self.reader.manifest(checkpoint)
        embedding = manifest.get("embedding", {})
        return (f"{manifest.get('hash')}:{embedding.get('kind')}:{embedding.get('dim')}:"
                f"{manifest.get('counts', {}).get('samples')}")

    # -- tables ---------------------------------------------------------------------------
    def predictions(self, checkpoint: str, datasets: list[str]) -> pd.DataFrame:
        """sample_id, dataset, key, label, pred, prob_fake; CacheError if there are none."""
        datasets = sorted(datasets)
        if not datasets:
            raise CacheError("Choose at least one source dataset.")
        key = ("predictions", checkpoint, self.identity(checkpoint), tuple(datasets))

        def load():
            frame = self.reader.predictions(checkpoint, datasets)
            if frame.empty:
                raise CacheError(f"Checkpoint {checkpoint!r} has no predictions for {', '.join(datasets)}.")
            return frame.reset_index(drop=True)

        return self._memo.get(key, load)

    def scores(self, checkpoint: str, datasets: list[str]) -> PaneScores:
        key = ("scores", checkpoint, self.identity(checkpoint), tuple(sorted(datasets)))
        return self._memo.get(key, lambda: PaneScores.from_frame(self.predictions(checkpoint, datasets)))

    def _strata(self, datasets: list[str]) -> pd.Series:
        """"dataset|label" per sample of `datasets`, indexed by sample_id in sorted order."""
        def build():
            samples = self.reader.samples(sorted(datasets), columns=["sample_id", "dataset", "label"])
            samples = samples.sort_values("sample_id", kind="stable")
            strata = (samples["dataset"].astype(str) + "|" + samples["label"].astype(str)).to_numpy(object)
            return pd.Series(strata, index=pd.Index(samples["sample_id"].to_numpy(object), dtype=object))

        return self._memo.get(("strata", tuple(sorted(datasets))), build)

    def sampled_ids(self, datasets: list[str], max_points: int, seed: int) -> np.ndarray:
        """The sample ids to project: stratified by dataset x label, the same for both panes."""
        key = ("sample", tuple(sorted(datasets)), int(max_points), int(seed))

        def choose():
            strata = self._strata(datasets)
            return strata.index.to_numpy()[stratified_sample(strata.to_numpy(), max_points, seed)]

        return self._memo.get(key, choose)

    def strata(self, ids: np.ndarray, datasets: list[str]) -> np.ndarray:
        """"dataset|label" of each of `ids` (what sampling and t-SNE's fitted subset are stratified by)."""
        return self._strata(datasets).reindex(pd.Index(ids, dtype=object)).fillna("?").to_numpy(object)

    # -- layouts --------------------------------------------------------------------------
    def layout_key(self, checkpoint: str, datasets: list[str], method: str, params: dict) -> str:
        return projection_key(self.identity(checkpoint), datasets, method, params)

    def load_layout(self, key: str) -> pd.DataFrame | None:
        """The saved layout (sample_id, x, y) for `key`, or None if it was never computed."""
        path = self.paths.projection(key)
        if not path.exists():
            return None
        return self._memo.get(("layout", key, path.stat().st_mtime_ns), lambda: pd.read_parquet(path))

    def layout_info(self, key: str) -> dict[str, str]:
        path = self.paths.projection(key)
        return read_file_metadata(path) if path.exists() else {}

    def save_layout(self, key: str, sample_ids, xy: np.ndarray, meta: dict[str, str]) -> None:
        table = pa.Table.from_arrays(
            [pa.array(np.asarray(sample_ids, dtype=object), pa.string()),
             pa.array(xy[:, 0].astype(np.float32)), pa.array(xy[:, 1].astype(np.float32))],
            schema=PROJECTION_SCHEMA,
        )
        write_table(self.paths.projection(key), table, metadata={k: str(v) for k, v in meta.items()})

    def save_interim(self, key: str, xy: np.ndarray) -> None:
        """Keep the layout in progress for `key` where the page's callbacks read it."""
        path = self.paths.interim_layout(key)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(xy, dtype=np.float32))

    def load_interim(self, key: str) -> np.ndarray | None:
        try:
            return np.load(self.paths.interim_layout(key))
        except (OSError, ValueError):  # none yet, or it has just been removed
            return None

    def drop_interim(self, key: str) -> None:
        self.paths.interim_layout(key).unlink(missing_ok=True)

    def interim_points(self, checkpoint: str, datasets: list[str], max_points: int, seed: int,
                       xy: np.ndarray) -> pd.DataFrame:
        """The points of a layout in progress: `xy` in projected-id order, with predictions."""
        key = ("interim-points", checkpoint, self.identity(checkpoint), tuple(sorted(datasets)), int(max_points),
               int(seed))

        def template():
            ids = self.projected_ids(checkpoint, datasets, max_points, seed)
            frame = self.predictions(checkpoint, datasets)
            return pd.DataFrame({"sample_id": ids}).merge(frame, on="sample_id", how="left", validate="one_to_one")

        base = self._memo.get(key, template)
        if len(base) != len(xy):
            raise CacheError("The layout in progress does not match the cache; press Run projection again.")
        return base.assign(x=xy[:, 0], y=xy[:, 1])

    def projected_ids(self, checkpoint: str, datasets: list[str], max_points: int, seed: int) -> np.ndarray:
        """The ids a layout of this checkpoint holds, in its row order (sorted sample ids)."""
        key = ("projected", checkpoint, self.identity(checkpoint), tuple(sorted(datasets)), int(max_points), int(seed))

        def choose():
            have = self.predictions(checkpoint, datasets)["sample_id"].to_numpy(dtype=object)
            wanted = self.sampled_ids(datasets, max_points, seed)
            return np.sort(have[_member(have, wanted)])

        return self._memo.get(key, choose)

    def embeddings_to_project(self, checkpoint: str, datasets: list[str], max_points: int, seed: int):
        """(sample_ids, embeddings) of the sampled ids this checkpoint has predictions for."""
        ids, embeddings = self.reader.embeddings(checkpoint, sorted(datasets))
        wanted = self.sampled_ids(datasets, max_points, seed)
        mask = _member(ids, wanted)
        order = np.argsort(ids[mask], kind="stable")
        return ids[mask][order], embeddings[mask][order]

    def compute_layout(self, checkpoint: str, datasets: list[str], method: str, params: dict,
                       progress=None) -> pd.DataFrame:
        """Project, save and return the layout; `progress(fraction, message, frame_or_None)`."""
        key = self.layout_key(checkpoint, datasets, method, params)
        ids, embeddings = self.embeddings_to_project(checkpoint, datasets, params["max_points"], params["seed"])
        if len(ids) == 0:
            raise CacheError(f"Checkpoint {checkpoint!r} has no embeddings for {', '.join(datasets)}.")

        def report(fraction, message, layout):
            if progress is not None:
                frame = None if layout is None else pd.DataFrame(
                    {"sample_id": ids, "x": layout[:, 0], "y": layout[:, 1]})
                progress(fraction, message, frame)

        strata = self.strata(ids, datasets) if method == "tsne" else None  # PCA uses every row alike
        xy = project(embeddings, method, progress=report, strata=strata, **params)
        self.save_layout(key, ids, xy, {"checkpoint": checkpoint, "method": method,
                                        "datasets": ",".join(sorted(datasets)), "params": repr(params)})
        return pd.DataFrame({"sample_id": ids, "x": xy[:, 0], "y": xy[:, 1]})

    def layout_points(self, key: str, checkpoint: str, datasets: list[str]) -> pd.DataFrame | None:
        """The saved layout `key` joined with the checkpoint's predictions (`points`), kept in the
        memo: a threshold change or a click then costs milliseconds, not a 100k-row join."""
        path = self.paths.projection(key)
        if not path.exists():
            return None
        memo_key = ("points", key, path.stat().st_mtime_ns, checkpoint, self.identity(checkpoint),
                    tuple(sorted(datasets)))
        return self._memo.get(memo_key, lambda: self.points(checkpoint, datasets, self.load_layout(key)))

    def points(self, checkpoint: str, datasets: list[str], layout: pd.DataFrame) -> pd.DataFrame:
        """The layout's points with their dataset, key, label and prob_fake (layout order)."""
        frame = self.predictions(checkpoint, datasets)
        return layout.merge(frame, on="sample_id", how="inner", validate="one_to_one")
