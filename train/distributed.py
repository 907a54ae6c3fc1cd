"""Data-parallel runs: which process this is, and the few collectives a run needs.

`curate train` runs as one process, or as N processes started by `torchrun --nproc_per_node N` or
`accelerate launch --num_processes N` (they set RANK, WORLD_SIZE, MASTER_ADDR, ...). With N > 1:

- training data: the Trainer's seeded sampler orders the planned batches the same way in every
  process and accelerate hands process r the batches r, r + N, r + 2N, ... of that order, so each
  process trains on its own shard and one optimizer step covers N × `grad_accumulation` planned
  batches (gradients are averaged by DDP, the loss is scaled by the trained tokens of all
  processes). When the batches of an epoch do not divide by N, the last round is filled with the
  first batches of the epoch again (accelerate's `even_batches`), so every process steps together.
- evaluation: each process computes the summed token loss and the trained-token counts of its
  share of the eval batches, and the sums and counts are added across processes before any mean,
  so the eval loss overall, per bucket and per length bucket is the one a single process gets
  (`SFTTrainer.evaluate`); generation splits its prompt batches the same way and gathers the outputs.
- files: only process 0 (the main one) writes RUN.partial/ (run info, metrics.jsonl, TensorBoard,
  reports) and renames it to RUN/; the Trainer writes checkpoints as usual. The others wait at a
  barrier where process 0 writes.

torch is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def launched_processes() -> int:
    """How many processes the launcher started (WORLD_SIZE; 1 when not launched by torchrun/accelerate)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def launched() -> Processes:
    """This process's rank and the world size as the launcher set them (RANK, WORLD_SIZE), without
    joining the process group: for messages before `current_processes`."""
    try:
        rank = int(os.environ.get("RANK", "0"))
    except ValueError:
        rank = 0
    return Processes(rank=rank, world_size=launched_processes())


@dataclass(frozen=True, slots=True)
class Processes:
    """This process's place in the run: `rank` of `world_size` (0 of 1 for a plain run)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def describe(self) -> str:
        return f"rank {self.rank} of {self.world_size}"

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share of `items`: every `world_size`-th item from index `rank`."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the processes, in float64 (the same result in every process)."""
        if not self.distributed:
            return [float(v) for v in values]
        import torch
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.float64, device=_collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return [float(v) for v in t.cpu()]

    def gather(self, obj: Any) -> list[Any]:
        """`obj` of every process, in rank order (picklable objects only)."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the block in the main process first, then in the others (e.g. a cache the main one builds)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
             "NCCL error", "Timed out", "timed out", "DistNetworkError")
"""What gloo and nccl errors say when another process of the group died: the cause is elsewhere."""


class StoppedByLauncher(Exception):
    """SIGTERM from torchrun/accelerate: it stops every process once one of them has failed."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn the launcher's SIGTERM into `StoppedByLauncher`, so the process says why it stops and
    cleans up like after any other error (a plain SIGTERM ends Python without either)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise StoppedByLauncher("stopped by the launcher (SIGTERM)")

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def lost_peer(e: BaseException) -> bool:
    """Whether `e` means another process of the run stopped (a failed collective, or the launcher's SIGTERM)."""
    if isinstance(e, StoppedByLauncher):
        return True
    text = f"{type(e).__name__}: {e}"
    return any(marker in text for marker in PEER_LOST)


def _collective_device() -> Any:
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def current_processes() -> Processes:
    """This process's rank and the world size; under a launcher, joins the process group first.

    The group is accelerate's (`PartialState`): gloo on CPU, nccl on GPUs, each process on its own
    GPU (LOCAL_RANK), and the Trainer reuses it. Idempotent.
    """
    if launched_processes() == 1:
        return Processes()
    import torch
    from accelerate import PartialState

    # without `cpu=True` accelerate takes a CPU-only process launched by torchrun for a plain one
    state = PartialState(cpu=not torch.cuda.is_available())
    return Processes(rank=state.process_index, world_size=state.num_processes)
