"""torchrun support: one process per rank (DDP), gloo on CPU, nccl with CUDA; seeding."""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (``rank`` 0 of ``world`` 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> tuple[DistInfo, torch.device]:
    """DDP when launched by torchrun (WORLD_SIZE > 1): gloo on CPU, nccl with CUDA."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return DistInfo(), torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    local = int(os.environ.get('LOCAL_RANK', '0'))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        dist.init_process_group('nccl')
        device = torch.device('cuda', local)
    else:
        dist.init_process_group('gloo')
        device = torch.device('cpu')
    return DistInfo(dist.get_rank(), dist.get_world_size(), local), device


def barrier(d: DistInfo) -> None:
    if d.world > 1:
        dist.barrier()


def shutdown(d: DistInfo) -> None:
    if d.world > 1:
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
