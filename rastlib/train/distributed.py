"""Multi-process training with PyTorch DistributedDataParallel, started by `torchrun`.

    torchrun --standalone --nproc_per_node=4 -m rastlib train --profile paper ...           # one machine
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
             --nproc_per_node=8 -m rastlib train --profile paper ...                         # each node

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; every process then joins one process group (NCCL on GPUs, gloo on
CPU), takes its share of each global batch (`shard_offsets`) and DDP averages the gradients, so N processes
train like one process with the same global batch. Rank 0 alone writes the log and the checkpoints; every rank
resumes from the same checkpoint.
"""
import os

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError


def world():
    """(rank, world_size) of this process: (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def setup(device):
    """Join torchrun's process group (if WORLD_SIZE > 1) and return this process's device."""
    rank, size = world()
    if size == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def shard_offsets(per_step, rank, size, extra=0):
    """The positions of one step's `per_step` samples that process `rank` of `size` takes: a contiguous k-slice
    (k = per_step / size), plus `extra` following ones (wrapping to the start of the step's batch)."""
    if per_step % size:
        raise ConfigError(f"batch_size / 2 = {per_step} must be divisible by the number of processes ({size})")
    k = per_step // size
    return [(rank * k + j) % per_step for j in range(k + extra)]


def all_true(flag, device):
    """True on every process iff `flag` is true on every process (so they all skip a bad step together)."""
    if world()[1] == 1:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def mean_over_processes(record, device):
    """The float entries of a log record averaged over processes (each process's losses are means over its
    share of the batch, so this is the mean over the global batch for the terms that are per-sample means)."""
    if world()[1] == 1:
        return record
    keys = [k for k, v in record.items() if isinstance(v, float)]
    t = torch.tensor([record[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= world()[1]
    return {**record, **dict(zip(keys, t.tolist()))}


def wrap(module, device, find_unused_parameters=False):
    """`module` in DistributedDataParallel when running under torchrun, else unchanged (None stays None).

    find_unused_parameters for modules of which a step may use only a part (a discriminator skips its
    scales under 32 px; one of the two projection heads may be off)."""
    if module is None or world()[1] == 1:
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                               find_unused_parameters=find_unused_parameters)


def barrier():
    if world()[1] > 1:
        dist.barrier()


def cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
