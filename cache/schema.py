"""Schemas of the cache's tables (schema version 1) and the vocabularies they use."""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

REAL, FAKE = 0, 1
LABEL_NAMES = {REAL: "REAL", FAKE: "FAKE"}

# Why a sample was skipped: a short fixed vocabulary, so errors can be counted by reason.
ERROR_REASONS = (
    "corrupt_image",       # the image bytes do not decode
    "decompression_bomb",  # more pixels than we agree to decode
    "missing_image",       # a json without an image member
    "missing_label",       # an image without a json, or a json without "label"
    "unknown_label",       # a label that is not real/fake in any case
    "bad_json",            # a json member that does not parse
    "duplicate_key",       # two samples with the same key in one shard
)

SAMPLES_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("dataset", pa.string()),
        ("key", pa.string()),
        ("label", pa.int8()),
        ("shard", pa.string()),
        ("image_offset", pa.int64()),
        ("image_size", pa.int64()),
        ("image_format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
    ]
)

ERRORS_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("shard", pa.string()),
        ("key", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)


def predictions_schema(num_logits: int, embedding_dim: int, embedding_type: pa.DataType) -> pa.Schema:
    """Predictions table: fixed-size lists keep logits and embeddings one contiguous buffer."""
    return pa.schema(
        [
            ("sample_id", pa.string()),
            ("pred", pa.int8()),
            ("prob_fake", pa.float32()),
            ("logits", pa.list_(pa.float32(), num_logits)),
            ("embedding", pa.list_(embedding_type, embedding_dim)),
        ]
    )


PROJECTION_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("x", pa.float32()),
        ("y", pa.float32()),
    ]
)
