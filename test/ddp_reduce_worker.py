"""One torchrun rank for ``test_ddp_teardown``: sum per-rank totals the way ``fit`` does, then exit.

Each rank contributes ``[rank, 1, 2]`` per round and checks, right after the reduction returns,
that the sum is right and that gloo no longer holds the tensor (only Python does). The process
then exits at once, which is the moment a late release by gloo used to abort the rank.
"""

import sys

import torch
import torch.distributed as dist

from avemotion_core.train.distributed import all_reduce_sum

ROUNDS = 300

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
held = 0
for _ in range(ROUNDS):
    totals = torch.tensor([rank, 1.0, 2.0], dtype=torch.float64)
    all_reduce_sum(totals)
    expected = [world * (world - 1) / 2, world, 2.0 * world]
    if totals.tolist() != expected:
        sys.exit(f"rank {rank}: sum {totals.tolist()} != {expected}")
    held += totals._use_count() > 1
dist.destroy_process_group()
if held:
    sys.exit(f"rank {rank}: gloo still held the tensor after {held} of {ROUNDS} reductions")
print(f"rank {rank}: {ROUNDS} reductions released", flush=True)
