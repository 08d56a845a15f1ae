"""Smoke tests of examples/wsol_finetune.py and examples/wsol_sharded_eval.py on fixtures in
the wsolevaluation layout, with random weights (``--fast``); nothing is downloaded.

The sharded example runs under torch's elastic launcher (what ``torchrun`` runs) with two gloo
processes and must give exactly the numbers of one process, on boxes (ILSVRC) and on masks with
ignore regions (OpenImages, PxAP), with split sizes that 2 does not divide.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from pathlib import Path

import pytest
import torch
import torchvision.transforms.v2 as T
from test_wsol_metadata import write_wsol_fixture
from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
from torch.distributed.launcher.api import LaunchConfig, elastic_launch
from torch.utils.data import DataLoader, DistributedSampler

from captum_infocam.backbones import vgg16_gap
from captum_infocam.data import WSOLMetadataDataset, collate_localization
from captum_infocam.localization import PixelAveragePrecision, threshold_grid

from conftest import EXAMPLES, load_script, run_example, start_method

SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")  # the elastic agent's, by default


def _check_box_report(report: dict, val_images: int, test_images: int) -> None:
    assert report["annotation"] == "boxes"
    assert (report["val_images"], report["test_images"]) == (val_images, test_images)
    assert list(report["methods"]) == ["CAM", "infoCAM", "InfoGradCam"]
    for entry in report["methods"].values():
        # The test's best threshold does at least as well as val's; BoxAcc at the val
        # threshold (IoU 0.5) is the GT-known loc there, computed by another path.
        assert entry["test_max_box_acc"] >= entry["test_box_acc_at_val_threshold"]
        assert entry["test_max_box_acc_v2"] >= entry["test_box_acc_v2_at_val_thresholds"]
        assert entry["test_gt_known_loc"] == entry["test_box_acc_at_val_threshold"]
        assert 0 <= entry["test_top1_loc"] <= entry["test_gt_known_loc"] <= 1
        assert entry["val_threshold_iou_50"] == entry["thresholds"][1]
        assert all(0 <= tau < 1 for tau in entry["thresholds"] + entry["thresholds_v2"])


@pytest.mark.slow
def test_finetune_then_protocol_on_cub_and_openimages(tmp_path):
    cub = write_wsol_fixture(tmp_path, "CUB")
    out = tmp_path / "cub"
    stdout = run_example(
        "wsol_finetune.py", "--fast", "--no-progress",
        "--data-root", str(cub[0]), "--metadata-root", str(cub[1]), "--out", str(out),
        threads=1,
    )  # fmt: skip
    assert "| method (setting chosen on val) | val MaxBoxAccV2 |" in stdout
    assert "epoch 1: training accuracy" in stdout
    report = json.loads((out / "wsol_protocol.json").read_text())
    _check_box_report(report, 3, 5)
    assert report["methods"]["infoCAM"]["setting"]["region_size"] in (1, 3)
    images = tmp_path / "openimages"
    masks = write_wsol_fixture(images, "OpenImages")
    stdout = run_example(
        "wsol_finetune.py", "--smoke", "--no-progress",
        "--architecture", "vgg16", "--data-root", str(masks[0]),
        "--metadata-root", str(masks[1]), "--out", str(images / "out"),
        threads=1,
    )  # fmt: skip
    report = json.loads((images / "out" / "wsol_protocol.json").read_text())
    assert report["annotation"] == "masks" and "| val PxAP | test PxAP |" in stdout
    for entry in report["methods"].values():
        assert 0 < entry["val_pxap"] <= 1 and 0 < entry["test_pxap"] <= 1
    # The fine-tuned weights load back into the backbone.
    model = vgg16_gap(num_classes=2, weights=images / "out" / "vgg16.pt")
    assert model.fc.out_features == 2


def _sharded_worker(arguments: list[str]) -> str:
    return run_example("wsol_sharded_eval.py", *arguments, threads=1)


def _launch_two_processes(arguments: list[str], log_dir: Path) -> dict[int, str]:
    """``torchrun --standalone --nproc_per_node=2 wsol_sharded_eval.py arguments``, through
    the elastic launcher that torchrun runs, in this process: the agent hosts the rendezvous
    store and sets RANK, WORLD_SIZE, MASTER_ADDR, ... for its workers as torchrun's does, but
    the workers are forked from the session's fork server (see conftest.run_processes)
    rather than started as new interpreters that import torch again. Returns what each rank
    printed. The agent's signal handlers are put back afterwards."""
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=2, run_id=uuid.uuid4().hex,
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
        start_method=start_method(), logs_specs=DefaultLogsSpecs(log_dir=str(log_dir)),
    )  # fmt: skip
    signals = [getattr(signal, name) for name in SIGNALS if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        signals = []  # the agent registers none off the main thread, and none can be set
    handlers = {number: signal.getsignal(number) for number in signals}
    try:
        return elastic_launch(config, _sharded_worker)(arguments)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def _check_mask_report(report: dict, val_images: int, test_images: int) -> None:
    assert report["annotation"] == "masks"
    assert (report["val_images"], report["test_images"]) == (val_images, test_images)
    assert list(report["methods"]) == ["CAM", "infoCAM", "InfoGradCam"]
    for entry in report["methods"].values():
        assert 0 < entry["val_pxap"] <= 1 and 0 < entry["test_pxap"] <= 1


def _load_example(name: str, monkeypatch: pytest.MonkeyPatch):
    """examples/<name>.py as a module (wsol_sharded_eval imports wsol_finetune from there)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return load_script(EXAMPLES / f"{name}.py", f"example_{name}")


def test_shards_hold_each_image_once_though_the_sampler_pads(monkeypatch):
    shard = _load_example("wsol_sharded_eval", monkeypatch).shard
    for size in range(8):
        for world in (1, 2, 3, 4):
            dataset = list(range(size))
            shards = [shard(dataset, rank, world) for rank in range(world)]
            assert shards == [dataset[rank::world] for rank in range(world)]
            # DistributedSampler alone repeats the first images up to a multiple of world.
            padded = sum(len(DistributedSampler(dataset, world, r, False)) for r in range(world))
            assert padded == -(-size // world) * world


def _check_pxap_against_one_pass(
    report: dict, data_root: Path, metadata_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CAM's test PxAP (CAM has no setting to choose) recomputed here in one pass over the
    whole split, with the example's model, maps and ignore masks; without the ignore masks
    this fixture's PxAP is another number, so they are counted."""
    example = _load_example("wsol_finetune", monkeypatch)
    torch.manual_seed(0)  # the example's --seed; --fast: random weights
    model = example.BACKBONES["resnet50"](2, weights=None).eval()
    normalise = T.Normalize(example.IMAGENET_MEAN, example.IMAGENET_STD)
    dataset = WSOLMetadataDataset(data_root, metadata_root, "test", 32, normalise)
    thresholds = threshold_grid(20)  # --fast
    with_ignore, without = PixelAveragePrecision(thresholds), PixelAveragePrecision(thresholds)
    for batch in DataLoader(dataset, batch_size=1, collate_fn=collate_localization):
        maps = example.explain(model, "CAM", {}, batch.image, batch.label)
        with_ignore.update(maps, batch.mask, batch.ignore)
        without.update(maps, batch.mask)
    assert report["methods"]["CAM"]["test_pxap"] == float(with_ignore.compute())
    assert float(without.compute()) != float(with_ignore.compute())


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["ILSVRC", "OpenImages"])
def test_sharded_evaluation_with_two_gloo_processes_equals_one_process(
    tmp_path, monkeypatch, dataset
):
    """Boxes (ILSVRC) and masks with ignore regions (OpenImages, PxAP), 3 val and 5 test
    images: 2 does not divide them, so the sampler pads each split with a repeated image."""
    data_root, metadata_root = write_wsol_fixture(tmp_path, dataset)
    common = [
        "--fast", "--no-progress", "--batch-size", "1",
        "--data-root", str(data_root), "--metadata-root", str(metadata_root),
    ]  # fmt: skip
    run_example("wsol_sharded_eval.py", *common, "--out", str(tmp_path / "one"), threads=1)
    printed = _launch_two_processes([*common, "--out", str(tmp_path / "two")], tmp_path / "logs")
    assert "2 process(es), 3 val and 5 test images" in printed[0]
    one = json.loads((tmp_path / "one" / "wsol_protocol.json").read_text())
    two = json.loads((tmp_path / "two" / "wsol_protocol.json").read_text())
    assert (one.pop("processes"), two.pop("processes")) == (1, 2)
    assert one == two  # every number, exactly (PxAP too: its state is integer histograms)
    # Each image counted once: the image counts are the reduced counts of the batches seen.
    if dataset == "ILSVRC":
        _check_box_report(two, 3, 5)
    else:
        assert "| method (setting chosen on val) | val PxAP | test PxAP |" in printed[0]
        _check_mask_report(two, 3, 5)
        _check_pxap_against_one_pass(two, data_root, metadata_root, monkeypatch)
