"""Sharded WSOL evaluation: the protocol of wsol_finetune.py over several processes.

Run under ``torchrun``: each process reads its shard of ``val`` and ``test`` (a
``DistributedSampler``), computes the maps and the metric states of its images, and the
accumulators of :mod:`captum_infocam.localization` sum their integer states over the
processes when ``compute()`` is called, once per split and method, so every process holds the
metrics of the whole split, equal to a single-process run. The setting and thresholds are
then chosen on ``val`` identically on every process, and ``test`` is evaluated at them.
Box datasets (ILSVRC, CUB) give the box metrics; mask datasets (OpenImages) give PxAP, its
ignore masks applied, from int64 histograms summed over the processes, so it too equals a
single-process run exactly. Process 0 prints the table and writes ``wsol_protocol.json`` under
``--out``.

    torchrun --nproc_per_node=4 examples/wsol_sharded_eval.py \\
        --data-root dataset/CUB --metadata-root metadata/CUB \\
        --architecture resnet50 --checkpoint outputs/cub_resnet50/resnet50.pt --out outputs
    python examples/wsol_sharded_eval.py --fast ...    # one process, random weights

Processes use gloo on CPU and NCCL on GPUs (one GPU per process, ``LOCAL_RANK``). Without
``torchrun`` the script runs as one process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torchvision.transforms.v2 as T
from torch.utils.data import DataLoader, DistributedSampler, Subset

# The protocol itself lives in the fine-tuning example (the same folder).
from wsol_finetune import (
    BACKBONES,
    CROP,
    IMAGENET_MEAN,
    IMAGENET_STD,
    parser,
    print_report,
    run_protocol,
)

from captum_infocam.data import WSOLMetadataDataset, collate_localization
from captum_infocam.localization import threshold_grid


def shard(dataset: WSOLMetadataDataset, rank: int, world: int) -> list[int]:
    """This process's indices of ``dataset``, each image on exactly one process.

    ``DistributedSampler`` pads the index list to a multiple of the number of processes by
    repeating its first indices, which would count those images twice; with ``shuffle=False``
    process ``rank`` gets the positions ``rank, rank + world, ...`` of the padded list, and
    the positions from ``len(dataset)`` on are the repeats, dropped here.
    """
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
    positions = range(rank, sampler.total_size, world)
    pairs = zip(positions, sampler, strict=True)  # one position per index
    return [index for position, index in pairs if position < len(dataset)]


def main(argv: list[str] | None = None) -> None:
    options = parser(description=__doc__.splitlines()[0])
    options.add_argument("--out", type=Path, default=Path("outputs"))
    options.add_argument("--fast", "--smoke", action="store_true", help="random weights, tiny")
    options.add_argument("--checkpoint", type=Path, default=None, help="wsol_finetune.py's")
    options.add_argument("--image-size", type=int, default=CROP)
    args = options.parse_args(argv)
    launched = "RANK" in os.environ  # torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*
    use_cuda = torch.cuda.is_available()
    device = "cpu"
    if launched:
        if use_cuda:
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
            device = f"cuda:{torch.cuda.current_device()}"
        dist.init_process_group("nccl" if use_cuda else "gloo")
    elif use_cuda:
        device = "cuda"
    rank, world = (dist.get_rank(), dist.get_world_size()) if launched else (0, 1)
    if args.fast:
        args.image_size, args.thresholds = 32, 20
    if args.checkpoint is None and not args.fast:
        options.error("pass --checkpoint (weights saved by wsol_finetune.py), or --fast")

    normalise = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    data = {
        split: WSOLMetadataDataset(
            args.data_root,
            args.metadata_root,
            split,
            args.image_size,
            normalise,
            mask_root=args.mask_root,
        )
        for split in ("val", "test")
    }
    loaders = {
        split: DataLoader(
            Subset(dataset, shard(dataset, rank, world)),
            batch_size=args.batch_size,
            collate_fn=collate_localization,
            num_workers=args.workers,
        )
        for split, dataset in data.items()
    }
    num_classes = args.num_classes
    if num_classes is None:
        train = WSOLMetadataDataset(args.data_root, args.metadata_root, "train", None)
        num_classes = int(train.labels.max()) + 1
    torch.manual_seed(args.seed)  # --fast: the same random weights on every process
    model = BACKBONES[args.architecture](num_classes, weights=args.checkpoint)
    model = model.to(device).eval()
    report = run_protocol(
        model,
        loaders,
        data["test"].annotation,
        threshold_grid(args.thresholds),
        args.fast,
        device,
        progress=not args.no_progress and rank == 0,
    )
    report["processes"] = world
    if rank == 0:
        print(
            f"{world} process(es), {len(data['val'])} val and {len(data['test'])} test images "
            f"at {args.image_size} x {args.image_size}"
        )
        print_report(report)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "wsol_protocol.json").write_text(json.dumps(report, indent=2))
    if launched:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
