"""Every torchvision classifier (and 30+ timm ones) through the four attributions.

For each model (``weights=None``, eval mode, a small random batch) the script runs

* the CAM family, ``ClassActivationMap(model)``, ``InfoCAM(model)`` and ``LayerPMI(model)``,
  with the head *and* the layer found automatically. A model whose logits are a global average
  pooling + linear function of a layer must give maps that satisfy the identities of the
  theory page exactly (``InfoCAM`` with ``region_size=None`` is ``z_y - mean_{k != y} z_k`` at
  every position, ``LayerPMI`` is ``log_softmax(z)_y + log K``); any other model must be
  refused with an error that points to ``InfoGradCam``. The cell says ``exact`` or
  ``clear refusal``;
* ``InfoGradCam`` on the layer that :data:`TORCHVISION_LAYERS` (or :func:`timm_layer`) gives
  for the model's family: the map must be finite, of shape ``(N, 1, *grid)``, and not zero;

and times ``InfoCAM`` (or ``InfoGradCam`` where the CAM family refuses) against a plain
forward pass. Every cell must be ``ok``, ``exact`` or ``clear refusal``: anything else (a crash,
a NaN, a misleading message, a wrong identity) is printed as ``BUG: ...`` and makes the script
exit with status 1.

Heads that torchvision or timm initialise to zero (ViT, Mixer, ...) give zero gradients and
zero maps on an untrained model; the script draws such all-zero weights at random first, so the
maps say something.

Usage::

    python benchmarks/model_zoo.py                         # torchvision + timm (if installed)
    python benchmarks/model_zoo.py --models resnet18 vit_b_16 --no-timm
    python benchmarks/model_zoo.py --table docs/benchmarks/model_zoo.md
"""

from __future__ import annotations

import argparse
import math
import platform
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from tqdm import tqdm

from captum_infocam import ClassActivationMap, InfoCAM, InfoGradCam, LayerPMI

DEFAULT_TABLE = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "model_zoo.md"

LayerRecipe = Callable[[nn.Module], nn.Module]
"""The layer to explain with ``InfoGradCam``, as a function of the model."""


def _last_but_one_feature(model: nn.Module) -> nn.Module:
    return model.features[-2]  # the last convolution's ReLU, before the final max-pool


#: ``InfoGradCam``'s layer for each torchvision family (prefix of the model name), with the
#: ``reshape`` it needs: the last layer that still has a spatial grid and reaches the logits.
TORCHVISION_LAYERS: dict[str, tuple[str, LayerRecipe, str | None]] = {
    "resnet": ("layer4", lambda m: m.layer4, None),
    "resnext": ("layer4", lambda m: m.layer4, None),
    "wide_resnet": ("layer4", lambda m: m.layer4, None),
    "vgg": ("features[-2]", _last_but_one_feature, None),
    "alexnet": ("features[-2]", _last_but_one_feature, None),
    "densenet": ("features", lambda m: m.features, None),
    "googlenet": ("inception5b", lambda m: m.inception5b, None),
    "inception": ("Mixed_7c", lambda m: m.Mixed_7c, None),
    "efficientnet": ("features", lambda m: m.features, None),
    "mobilenet": ("features", lambda m: m.features, None),
    "mnasnet": ("layers", lambda m: m.layers, None),
    "regnet": ("trunk_output", lambda m: m.trunk_output, None),
    "shufflenet": ("conv5", lambda m: m.conv5, None),
    "squeezenet": ("features", lambda m: m.features, None),
    "convnext": ("features", lambda m: m.features, None),
    "swin": ("permute", lambda m: m.permute, None),  # the (N, h, w, C) -> (N, C, h, w) module
    "maxvit": ("blocks[-1]", lambda m: m.blocks[-1], None),
    "vit": ("encoder.layers[-1].ln_1", lambda m: m.encoder.layers[-1].ln_1, "tokens"),
}

#: Input side per model where the default is too small or the model needs a fixed size.
IMAGE_SIZES = {"vit": 224, "maxvit": 224, "swin": 224, "inception": 128, "alexnet": 128}
DEFAULT_IMAGE_SIZE = 64

#: timm architectures across families (created with ``num_classes=10``).
TIMM_MODELS = (
    "resnet18",
    "resnet50d",
    "resnetv2_50",
    "resnext50_32x4d",
    "seresnet18",
    "res2net50_26w_4s",
    "skresnet18",
    "cspresnet50",
    "dla34",
    "dpn68",
    "densenet121",
    "efficientnet_b0",
    "tf_efficientnet_b0",
    "efficientnetv2_rw_t",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "mnasnet_100",
    "fbnetc_100",
    "ghostnet_100",
    "lcnet_050",
    "rexnet_100",
    "regnetx_002",
    "regnety_002",
    "hrnet_w18_small",
    "ese_vovnet19b_dw",
    "selecsls42b",
    "inception_v3",
    "xception41",
    "convnext_atto",
    "edgenext_xx_small",
    "poolformer_s12",
    "repvit_m1",
    "fastvit_t8",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "deit_tiny_distilled_patch16_224",
    "beit_base_patch16_224",
    "eva02_tiny_patch14_224",
    "swin_tiny_patch4_window7_224",
    "mixer_s16_224",
    "levit_128s",
    "maxvit_nano_rw_256",
)


@dataclass
class Row:
    """One model's line of the table."""

    source: str
    model: str
    layer: str
    cam_family: str
    info_grad_cam: str
    cam_time: str
    grad_time: str

    @property
    def bug(self) -> bool:
        return any(cell.startswith("BUG") for cell in (self.cam_family, self.info_grad_cam))


def _family(name: str, families: Sequence[str]) -> str:
    matches = [family for family in families if name.startswith(family)]
    if not matches:
        raise KeyError(f"no layer recipe for {name}")
    return max(matches, key=len)  # "wide_resnet" before "resnet", "maxvit" before "vit"


def _randomise_zero_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Draw all-zero linear weights (zero-initialised heads) at random, in place."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear) and not module.weight.any():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.02)


def _median_seconds(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _short(error: BaseException, limit: int = 90) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_cam_family(model: nn.Module, inputs: Tensor, target: Tensor, logits: Tensor) -> str:
    """``exact`` when the three CAM-family maps satisfy their identities, ``clear refusal``
    when each refuses with a pointer to ``InfoGradCam``, ``BUG: ...`` otherwise."""
    outcomes = []
    others = logits.shape[1] - 1
    logit_y = logits.gather(1, target[:, None])[:, 0].double()
    expected = {
        InfoCAM: logit_y - (logits.double().sum(1) - logit_y) / others,
        LayerPMI: torch.log_softmax(logits.double(), 1).gather(1, target[:, None])[:, 0]
        + math.log(logits.shape[1]),
    }
    for method in (ClassActivationMap, InfoCAM, LayerPMI):
        try:
            options = {} if method is ClassActivationMap else {"region_size": None}
            maps = method(model).attribute(inputs, target=target, **options)
        except ValueError as error:
            if "InfoGradCam" in str(error) and len(str(error)) < 1200:
                outcomes.append("refused")
                continue
            return f"BUG: {method.__name__}: {_short(error)}"
        except Exception as error:  # a crash is a bug to report, not to hide
            return f"BUG: {method.__name__}: {_short(error)}"
        if not bool(torch.isfinite(maps).all()):
            return f"BUG: {method.__name__} map not finite"
        if method in expected:
            want = expected[method].view(-1, *([1] * (maps.dim() - 1)))
            scale = 1e-3 * (1.0 + logits.double().abs().amax())
            if not bool(((maps.double() - want).abs() <= scale).all()):
                return (
                    f"BUG: {method.__name__} identity off by {float((maps - want).abs().max()):.3g}"
                )
        outcomes.append("exact")
    if set(outcomes) == {"exact"}:
        return "exact"
    if set(outcomes) == {"refused"}:
        return "clear refusal"
    return f"BUG: mixed {outcomes}"


def check_info_grad_cam(
    model: nn.Module, layer: nn.Module, reshape: object, inputs: Tensor, target: Tensor
) -> str:
    """``ok`` when ``InfoGradCam`` gives a finite, non-zero ``(N, 1, *grid)`` map."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a zero-gradient warning is a failure here
            maps = InfoGradCam(model, layer, reshape=reshape).attribute(inputs, target=target)
    except Exception as error:
        return f"BUG: {_short(error)}"
    if maps.dim() < 3 or maps.shape[:2] != (inputs.shape[0], 1):
        return f"BUG: map shape {tuple(maps.shape)}"
    if not bool(torch.isfinite(maps).all()):
        return "BUG: map not finite"
    if not bool(maps.any()):
        return "BUG: zero map"
    return "ok"


def _torchvision_case(name: str) -> tuple[nn.Module, str, nn.Module, object, int]:
    model = torchvision.models.get_model(name, weights=None)
    family = _family(name, list(TORCHVISION_LAYERS))
    label, recipe, reshape_kind = TORCHVISION_LAYERS[family]
    size = IMAGE_SIZES.get(_family(name, [*IMAGE_SIZES, ""]), DEFAULT_IMAGE_SIZE)
    reshape = None
    if reshape_kind == "tokens":
        side = size // model.patch_size
        reshape = (side, side)
    return model, label, recipe(model), reshape, size


def timm_layer(model: nn.Module, inputs: Tensor) -> tuple[str, nn.Module, object]:
    """``InfoGradCam``'s layer for a timm model: the module whose output is
    ``forward_features``' result, or, for class-token heads, the last block's first norm.

    Returns:
        *tuple*: a label, the layer and the ``reshape`` argument (``None``, ``(h, w)`` for
        tokens, or a channels-last permutation).
    """
    prefix = getattr(model, "num_prefix_tokens", 0) or 0
    if getattr(model, "global_pool", None) == "token" and hasattr(model, "blocks"):
        grid = tuple(model.patch_embed.grid_size)
        return "blocks[-1].norm1", model.blocks[-1].norm1, grid
    seen: list[tuple[str, Tensor]] = []
    hooks = [
        module.register_forward_hook(
            lambda m, a, out, name=name: (
                seen.append((name, out)) if isinstance(out, Tensor) else None
            )
        )
        for name, module in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            features = model.forward_features(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    name = next(
        n
        for n, out in reversed(seen)
        if out is features
        or (out.data_ptr() == features.data_ptr() and out.shape == features.shape)
    )
    layer = model.get_submodule(name)
    num_features = getattr(model, "num_features", None)
    if (
        features.dim() == 4
        and features.shape[-1] == num_features
        and features.shape[1] != num_features
    ):
        return name, layer, lambda t: t.permute(0, 3, 1, 2)  # channels-last stages (Swin)
    if features.dim() == 3:
        tokens = features.shape[1] - prefix
        side = math.isqrt(tokens)
        return name, layer, (side, tokens // side)
    return name, layer, None


def run_model(
    source: str, name: str, build: Callable[[], tuple], repeats: int, generator: torch.Generator
) -> Row:
    """Build one model, check the four attributions on it and time them."""
    try:
        model, label, layer, reshape, size = build()
    except Exception as error:
        return Row(source, name, "-", f"BUG: build: {_short(error)}", "-", "-", "-")
    model.eval()
    _randomise_zero_weights(model, generator)
    inputs = torch.randn(2, 3, size, size, generator=generator)
    with torch.no_grad():
        logits = model(inputs)
    target = torch.tensor([1, 7]) % logits.shape[1]
    cam_family = check_cam_family(model, inputs, target, logits)
    grad = check_info_grad_cam(model, layer, reshape, inputs, target)
    forward = _median_seconds(lambda: model(inputs), repeats) if repeats else float("nan")

    def ratio(call: Callable[[], object]) -> str:
        if not repeats:
            return "-"
        return f"{_median_seconds(call, repeats) / forward:.2f}x"

    cam_time = "-"
    if cam_family == "exact":
        cam_time = ratio(lambda: InfoCAM(model).attribute(inputs, target=target))
    grad_time = "-"
    if grad == "ok":
        grad_time = ratio(
            lambda: InfoGradCam(model, layer, reshape=reshape).attribute(inputs, target=target)
        )
    return Row(source, name, label, cam_family, grad, cam_time, grad_time)


def cases(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], tuple]]]:
    """The models to run, each as (source, name, builder)."""
    found = []
    for name in torchvision.models.list_models(module=torchvision.models):
        if args.models and name not in args.models:
            continue
        found.append(("torchvision", name, lambda name=name: _torchvision_case(name)))
    if args.timm:
        try:
            import timm
        except ImportError:
            print("timm is not installed: torchvision models only")
            return found
        for name in TIMM_MODELS:
            if args.models and name not in args.models:
                continue

            def build(name: str = name) -> tuple:
                model = timm.create_model(name, pretrained=False, num_classes=10).eval()
                size = model.default_cfg["input_size"][-1]
                probe = torch.zeros(1, 3, size, size)
                label, layer, reshape = timm_layer(model, probe)
                return model, label, layer, reshape, size

            found.append(("timm", name, build))
    return found


def markdown(rows: Sequence[Row], command: str) -> str:
    lines = [
        f"<!-- written by {command} -->",
        f"Measured with `{command}` on {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{torch.get_num_threads()} thread(s), batch 2, `weights=None`. Time is the median "
        "call over the median forward pass.",
        "",
        "| source | model | InfoGradCam layer | CAM family (auto head and layer) | InfoGradCam "
        "| InfoCAM time | InfoGradCam time |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.source} | {row.model} | `{row.layer}` | {row.cam_family} | "
            f"{row.info_grad_cam} | {row.cam_time} | {row.grad_time} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="only these model names")
    parser.add_argument("--no-timm", dest="timm", action="store_false")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (0: no timing)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--table", type=Path, default=None, help="write the Markdown table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = shlex.join(
        ["python", "benchmarks/model_zoo.py", *(sys.argv[1:] if argv is None else argv)]
    )
    generator = torch.Generator().manual_seed(args.seed)
    rows = []
    todo = cases(args)
    with tqdm(todo, unit="model") as progress:
        for source, name, build in progress:
            progress.set_postfix_str(name)
            rows.append(run_model(source, name, build, args.repeats, generator))
    table = markdown(rows, command)
    print(table)
    if args.table:
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text(table)
    bugs = [row.model for row in rows if row.bug]
    if bugs:
        print(f"{len(bugs)} model(s) with a bug: {', '.join(bugs)}")
        return 1
    print(f"all {len(rows)} models ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
