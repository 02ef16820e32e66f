"""Splitting shards across processes started by `torchrun` (GPUs and nodes).

Each rank computes every `world`-th shard and writes its own files; the only
coordination is a barrier before rank 0 writes the metrics and manifests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, shard_number: int) -> bool:
        """Shards are dealt round-robin by their position in the sorted shard list."""
        return shard_number % self.world == self.rank

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def rank_from_env(cuda: bool) -> Rank:
    """The rank torchrun describes in the environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Rank()
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Rank(dist.get_rank(), world, local)
