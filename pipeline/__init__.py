"""Offline work: read webdataset shards, run checkpoints, compute metrics and projections,
build the demo. Modules that need torch import it themselves; `metrics`, `projection`,
`shards`, `synth` and `errors` stay torch-free so the dashboard can use them."""

PIPELINE_VERSION = "1.0"
