"""GET /image/<sample_id>: exact bytes from the shard for known ids, 404 for anything else."""

from __future__ import annotations

import tarfile

import pytest

from cache import CacheReader
from dashboard_fixtures import dash_cache  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def client(dash_cache):  # noqa: F811
    from dashboard.app import create_app

    return create_app(dash_cache).server.test_client()


@pytest.fixture(scope="module")
def samples(dash_cache):  # noqa: F811
    reader = CacheReader(dash_cache)
    return reader, reader.samples()


def member_bytes(reader, row) -> bytes:
    """The image member read with tarfile: independent of the cache's offsets."""
    with tarfile.open(reader.data_root / row["shard"]) as tar:
        return tar.extractfile(f"{row['key']}.{row['image_format']}").read()


@pytest.mark.parametrize("dataset, content_type", [("alpha", "image/png"), ("beta", "image/jpeg"),
                                                    ("testing", "image/jpeg")])
def test_known_ids_give_the_exact_member_bytes(client, samples, dataset, content_type):
    reader, frame = samples
    for _, row in frame[frame["dataset"] == dataset].iloc[[0, 7, -1]].iterrows():
        response = client.get(f"/image/{row['sample_id']}")
        assert response.status_code == 200
        assert response.data == member_bytes(reader, row)
        assert response.headers["Content-Type"] == content_type
        assert "max-age" in response.headers["Cache-Control"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_etag_revalidation_gives_304(client, samples):
    _, frame = samples
    first = client.get(f"/image/{frame['sample_id'].iloc[3]}")
    again = client.get(f"/image/{frame['sample_id'].iloc[3]}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_percent_encoded_id_of_a_known_sample_is_that_sample(client, samples):
    from dashboard.images import image_url

    _, frame = samples
    sample_id = frame["sample_id"].iloc[0]
    assert client.get(image_url(sample_id)).status_code == 200


@pytest.mark.parametrize("path", [
    "/image/nope",
    "/image/alpha/does-not-exist",
    "/image/alpha",
    "/image/",
    "/image/../cache.json",
    "/image/..%2F..%2Fcache.json",
    "/image/%2E%2E/%2E%2E/etc/passwd",
    "/image/..%2f..%2f..%2fetc%2fpasswd",
    "/image/%2Fetc%2Fpasswd",
    "/image//etc/passwd",
    "/image/alpha/../beta",
    "/image/alpha%00",
    "/image/C:%5Cwindows%5Cwin.ini",
])
def test_everything_else_is_404(client, path):
    assert client.get(path).status_code == 404


def test_absolute_paths_of_real_files_are_404(client, samples, dash_cache):  # noqa: F811
    reader, frame = samples
    shard = reader.data_root / frame["shard"].iloc[0]
    for target in (shard, dash_cache / "cache.json", "/etc/passwd"):
        assert client.get(f"/image/{target}").status_code == 404
        assert client.get(f"/image/{str(target).replace('/', '%2F')}").status_code == 404
