"""The native CPU kernel of the box protocol (``_contours.c``), compiled on first use.

On the CPU the box protocol's contours at every level come from a small C kernel (union-find
over the pixels sorted by value, one pass per map), which runs several times faster than the
torch implementation's chain of tensor operations; the torch implementation
(:mod:`captum_infocam.localization._level_components`) serves every other device and every
machine without a C compiler, with identical results (the tests hold the two equal).

The kernel is plain C99 with no dependency, compiled once with the system's C compiler
(``$CC``, else Python's build compiler, else ``cc``) into a cache folder
(``$CAPTUM_INFOCAM_CACHE``, else ``$XDG_CACHE_HOME/captum_infocam`` or
``~/.cache/captum_infocam``) under a name that hashes the source and the flags, and loaded
with :mod:`ctypes`. When compiling or loading fails, the torch implementation is used and the
reason is logged once (logger ``captum_infocam``). ``CAPTUM_INFOCAM_NATIVE=0`` turns the kernel
off. Calls release the GIL and own their scratch memory, so threads may evaluate at once.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["available", "box_protocol", "compile_command", "fill_holes", "library_path"]

_LOGGER = logging.getLogger("captum_infocam")
_SOURCE = Path(__file__).with_name("_contours.c")
_FLAGS = ("-O3", "-std=c99", "-shared", "-fPIC", "-ffp-contract=off")
_COMPILE_TIMEOUT_S = 600
_lock = threading.Lock()
_state: dict[str, ctypes.CDLL | None] = {}

_I32 = ctypes.c_int32
_PTR = ctypes.c_void_p
_SIGNATURES = {
    "cx_fill_holes": (_PTR, _I32, _I32, _I32, _PTR),
    "cx_box_protocol": (_PTR, _PTR, _I32, _I32, _I32, _PTR, _I32, _PTR, _PTR, _PTR, _I32, _PTR),
}


def _compiler() -> list[str]:
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return command.split()


def compile_command(output: str) -> list[str]:
    """The command that compiles the kernel into ``output``."""
    return [*_compiler(), *_FLAGS, str(_SOURCE), "-o", output]


def _cache_folder() -> Path:
    if folder := os.environ.get("CAPTUM_INFOCAM_CACHE"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory (an arbitrary uid in a container)
            base = str(Path(tempfile.gettempdir()) / f"captum_infocam-{os.getuid()}")
    return Path(base) / "captum_infocam"


def library_path() -> Path:
    """Where the compiled kernel is (or would be) cached for this source, compiler and flags."""
    digest = hashlib.sha256(_SOURCE.read_bytes())
    digest.update(" ".join([*_compiler(), *_FLAGS, sys.platform, platform.machine()]).encode())
    return _cache_folder() / f"contours-{digest.hexdigest()[:16]}.so"


def _build(target: Path) -> None:
    """Compile the kernel into ``target``, atomically (a temporary file, then a rename), so
    that processes compiling at once never load a half-written library."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        subprocess.run(
            compile_command(temporary),
            check=True,
            capture_output=True,
            text=True,
            timeout=_COMPILE_TIMEOUT_S,
        )
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _load() -> ctypes.CDLL | None:
    """The kernel's library, compiled on first use; ``None`` if it is turned off or fails."""
    if os.environ.get("CAPTUM_INFOCAM_NATIVE", "1") == "0":
        return None
    if "library" in _state:  # loaded (or failed) already: no lock needed to read it
        return _state["library"]
    with _lock:
        if "library" in _state:
            return _state["library"]
        library = None
        try:
            target = library_path()
            if not target.exists():
                _build(target)
            library = ctypes.CDLL(str(target))
            for name, arguments in _SIGNATURES.items():
                function = getattr(library, name)
                function.argtypes = arguments
                function.restype = ctypes.c_int
        except Exception as error:
            detail = getattr(error, "stderr", None) or error
            _LOGGER.warning(
                "captum_infocam: the native box-protocol kernel is unavailable (%s); the torch "
                "implementation is used instead (same results, slower on the CPU). Set CC to "
                "a C compiler, CAPTUM_INFOCAM_CACHE to a writable folder (now %s), or "
                "CAPTUM_INFOCAM_NATIVE=0 to silence this.",
                str(detail).strip()[:2000],
                os.environ.get("CAPTUM_INFOCAM_CACHE", "the user cache"),
            )
            library = None
        _state["library"] = library
        return library


_MAX_PADDED_PIXELS = 2**29  # pixel ids are int32, and hole filling indexes 2 x pixels


def available(device: torch.device, height: int = 1, width: int = 1) -> bool:
    """Whether the kernel serves ``height x width`` maps on ``device`` (the CPU, maps below
    2**29 padded pixels, when it compiles and loads)."""
    if device.type != "cpu" or (height + 2) * (width + 2) >= _MAX_PADDED_PIXELS:
        return False
    return _load() is not None


def _library() -> ctypes.CDLL:
    library = _load()
    if library is None:
        raise RuntimeError("the native box-protocol kernel is not available")
    return library


def _check(status: int) -> None:
    if status != 0:
        raise MemoryError("the native box-protocol kernel ran out of memory")


def fill_holes(values: Tensor) -> Tensor:
    """Grayscale hole filling (the minimax value of the 4-connected paths to the border),
    in the layout :func:`box_protocol` takes.

    Args:
        values (Tensor): ``(N, H, W)`` int32 quantised maps in ``[0, 255]`` on the CPU.

    Returns:
        *Tensor* ``(N, H + 2, W + 2)`` int32: the filled maps in a frame of -1.
    """
    values = values.contiguous()
    assert values.dtype == torch.int32 and values.device.type == "cpu"
    num_maps, height, width = values.shape
    filled = torch.empty(num_maps, height + 2, width + 2, dtype=torch.int32)
    _check(_library().cx_fill_holes(values.data_ptr(), num_maps, height, width, filled.data_ptr()))
    return filled


def box_protocol(
    values: Tensor,
    filled: Tensor,
    levels: Tensor,
    *,
    largest: bool,
    gt_boxes: Tensor | None = None,
    gt_valid: Tensor | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """The largest outer contour's pixel extents and the best IoU over every contour, at
    every level, of a batch of quantised maps.

    Args:
        values (Tensor): ``(N, H, W)`` int32 quantised maps in ``[0, 255]`` on the CPU.
        filled (Tensor): ``fill_holes(values)``.
        levels (Tensor): ``(L,)`` int64 strictly increasing levels in ``[0, 255]``.
        largest (bool): compute the largest outer contour's extents.
        gt_boxes (Tensor, optional): ``(N, M, 4)`` inclusive ground-truth boxes; given,
            compute the best IoU over every contour (outer and hole, in the reference's box
            convention) with them.
        gt_valid (Tensor, optional): ``(N, M)`` bool, which ground-truth boxes count.

    Returns:
        *tuple* ``(boxes, ious)``: ``boxes`` ``(N, L, 4)`` int32 ``(x_min, y_min, x_max,
        y_max)`` (zeros at a level with no pixel above it), ``None`` without ``largest``;
        ``ious`` ``(N, L)`` float64 (-1 at a level with no contour), ``None`` without
        ``gt_boxes``.
    """
    values, filled, levels = values.contiguous(), filled.contiguous(), levels.contiguous()
    num_maps, height, width = values.shape
    assert values.dtype == filled.dtype == torch.int32 and levels.dtype == torch.int64
    assert filled.shape == (num_maps, height + 2, width + 2)
    assert all(t.device.type == "cpu" for t in (values, filled, levels))
    boxes = ious = None
    box_pointer = gt_pointer = valid_pointer = iou_pointer = None
    num_gt = 0
    if largest:
        boxes = torch.empty(num_maps, levels.numel(), 4, dtype=torch.int32)
        box_pointer = boxes.data_ptr()
    if gt_boxes is not None:
        assert gt_valid is not None
        gt_boxes = gt_boxes.to(torch.float64).contiguous()
        gt_valid = gt_valid.to(torch.uint8).contiguous()
        num_gt = gt_boxes.shape[1]
        ious = torch.empty(num_maps, levels.numel(), dtype=torch.float64)
        gt_pointer, valid_pointer = gt_boxes.data_ptr(), gt_valid.data_ptr()
        iou_pointer = ious.data_ptr()
    status = _library().cx_box_protocol(
        values.data_ptr(),
        filled.data_ptr(),
        num_maps,
        height,
        width,
        levels.data_ptr(),
        levels.numel(),
        box_pointer,
        gt_pointer,
        valid_pointer,
        num_gt,
        iou_pointer,
    )
    _check(status)
    return boxes, ious
