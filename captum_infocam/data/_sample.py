"""The sample type of every localisation set and the collate that batches it (internal;
public as ``captum_infocam.data``), with the deprecated WSOL names of both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, NoReturn

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from captum_infocam._deprecation import warn_renamed


class LocalizationSample(tuple):
    """One image of a localisation set: ``(image, label, boxes)``, then ``mask`` if the set
    has object masks, then ``ignore`` if it also marks regions to leave out of the score.

    Every reader returns it: :class:`~captum_infocam.data.SyntheticLocalization` and
    :class:`~captum_infocam.data.SyntheticTextures` (with masks),
    :class:`~captum_infocam.data.CUB200` and :class:`~captum_infocam.data.TinyImageNet` (boxes
    only), and :class:`~captum_infocam.data.WSOLMetadataDataset` (boxes for ILSVRC and CUB; a
    mask and an ignore region for OpenImages). A tuple of three, four or five tensors, used
    like a named tuple: ``image, label, boxes = sample`` for a set without masks.
    :func:`collate_localization` batches samples whose images carry different numbers of
    boxes; when they all carry as many, :func:`torch.utils.data.default_collate` stacks them
    too. Either gives a sample of batched tensors (boxes ``(N, M, 4)``, which the box metrics
    accept as is). Under ``default_collate`` a batch must not mix samples with different
    fields: the fields the shortest sample lacks would be dropped (``collate_localization``
    raises instead).

    Args:
        image (Tensor): ``(3, H, W)`` float32, in ``[0, 1]`` before any transform.
        label (Tensor): scalar int64 class index.
        boxes (Tensor): ``(M, 4)`` int64 inclusive pixel boxes ``(x1, y1, x2, y2)`` in the
            coordinates of ``image``, one row per object; ``(0, 4)`` for a set with masks
            only.
        mask (Tensor, optional): ``(H, W)`` bool, the objects' pixels. Default: None (the
            set has boxes only).
        ignore (Tensor, optional): ``(H, W)`` bool, pixels that count neither as object nor
            as background (OpenImages' ignore regions, for
            :class:`~captum_infocam.localization.PixelAveragePrecision`); only with ``mask``.
            Default: None.

    Attributes:
        image (Tensor): the image.
        label (Tensor): the class index.
        boxes (Tensor): the ``(M, 4)`` boxes.
        mask (Tensor or None): the object mask, or ``None``.
        ignore (Tensor or None): the ignore region, or ``None``.

    Raises:
        ValueError: if ``ignore`` is given without ``mask``, or in another shape than
            ``mask``.

    Examples::

        >>> sample = LocalizationSample(
        ...     torch.zeros(3, 4, 4), torch.tensor(1), torch.tensor([[0, 0, 3, 3]]))
        >>> image, label, boxes = sample
        >>> boxes.shape, sample.mask is None, sample.ignore is None
        (torch.Size([1, 4]), True, True)
        >>> mask = torch.eye(4, dtype=torch.bool)
        >>> with_mask = sample._replace(mask=mask, ignore=~mask)
        >>> len(with_mask), with_mask.ignore.shape
        (5, torch.Size([4, 4]))
        >>> batch = torch.utils.data.default_collate([with_mask, with_mask])
        >>> type(batch).__name__, batch.mask.shape, batch.ignore.shape
        ('LocalizationSample', torch.Size([2, 4, 4]), torch.Size([2, 4, 4]))
    """

    __slots__ = ()
    # Marks a named tuple for torch's default_collate and pin_memory, which rebuild the sample
    # as type(sample)(*batched_fields): three fields give a sample without a mask, four one
    # without an ignore region.
    _fields = ("image", "label", "boxes", "mask", "ignore")

    def __new__(
        cls,
        image: Tensor,
        label: Tensor,
        boxes: Tensor,
        mask: Tensor | None = None,
        ignore: Tensor | None = None,
    ) -> LocalizationSample:
        if ignore is not None:
            if mask is None:
                raise ValueError(
                    "LocalizationSample got ignore without mask: an ignore region needs the "
                    "object mask; pass mask too, or ignore=None"
                )
            if ignore.shape != mask.shape:
                raise ValueError(
                    f"LocalizationSample expected ignore in the shape of mask, "
                    f"{tuple(mask.shape)}, got {tuple(ignore.shape)}"
                )
        fields = (image, label, boxes, mask, ignore)
        return super().__new__(cls, fields[: 3 if mask is None else 4 if ignore is None else 5])

    def __getnewargs__(self) -> tuple[Tensor, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self, strict=False)
        )
        return f"{type(self).__name__}({shown})"

    @property
    def image(self) -> Tensor:
        """The ``(3, H, W)`` image (``(N, 3, H, W)`` in a batch)."""
        return self[0]

    @property
    def label(self) -> Tensor:
        """The class index (``(N,)`` in a batch)."""
        return self[1]

    @property
    def boxes(self) -> Tensor:
        """The ``(M, 4)`` inclusive boxes (``(N, M, 4)`` in a batch)."""
        return self[2]

    @property
    def mask(self) -> Tensor | None:
        """The ``(H, W)`` bool object mask (``(N, H, W)`` in a batch), or ``None``."""
        return self[3] if len(self) > 3 else None

    @property
    def ignore(self) -> Tensor | None:
        """The ``(H, W)`` bool ignore region (``(N, H, W)`` in a batch), or ``None``."""
        return self[4] if len(self) > 4 else None

    @property
    def box(self) -> Tensor:
        """The first box, ``boxes[..., 0, :]``: the old ``(4,)`` field, deprecated."""
        warn_renamed("LocalizationSample.box", "LocalizationSample.boxes, whose shape is (M, 4)")
        return self.boxes[..., 0, :]

    def _replace(self, **changes: Tensor | None) -> LocalizationSample:
        """A copy with some fields replaced (``mask=None, ignore=None`` drops the mask), as
        for a named tuple."""
        fields: dict[str, Tensor | None] = dict(
            zip(
                self._fields,
                (self.image, self.label, self.boxes, self.mask, self.ignore),
                strict=True,
            )
        )
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"LocalizationSample has no field {unknown[0]!r}")
        fields.update(changes)
        return LocalizationSample(**fields)  # type: ignore[arg-type]


def collate_localization(samples: Sequence[LocalizationSample]) -> LocalizationSample:
    """Stack samples whose images carry different numbers of boxes into one batched sample.

    Pass it as ``collate_fn`` of a :class:`~torch.utils.data.DataLoader` over any localisation
    set: :class:`~captum_infocam.data.WSOLMetadataDataset` (ILSVRC images carry one box or
    several, OpenImages images none), and the synthetic, CUB-200 and Tiny-ImageNet readers,
    where it gives what :func:`torch.utils.data.default_collate` gives.

    Args:
        samples (sequence of LocalizationSample): the samples of one batch, all with images
            of one size, and all with the same fields (masks or not, ignore regions or not).

    Returns:
        *LocalizationSample*: images ``(N, 3, H, W)``, labels ``(N,)``, boxes ``(N, M, 4)``
        with ``M`` the largest box count of the batch, and masks and ignore regions
        ``(N, H, W)`` when the samples have them. Images with fewer boxes are padded with rows
        ``(-1, -1, -1, -1)``, which
        :class:`~captum_infocam.localization.BoxLocalizationMetrics` and
        :func:`~captum_infocam.localization.box_accuracy` skip.

    Raises:
        TypeError: if a sample is not a :class:`LocalizationSample`.
        ValueError: on an empty batch, when some samples have masks (or ignore regions) and
            others not, or when a sample's boxes are not ``(M, 4)``.

    Examples::

        >>> image, mask = torch.zeros(3, 8, 8), torch.eye(8, dtype=torch.bool)
        >>> batch = collate_localization([
        ...     LocalizationSample(image, torch.tensor(0), torch.tensor([[0, 0, 3, 3]])),
        ...     LocalizationSample(image, torch.tensor(1),
        ...                        torch.tensor([[0, 0, 1, 1], [4, 4, 7, 7]]))])
        >>> batch.image.shape, batch.boxes[0].tolist(), batch.mask
        (torch.Size([2, 3, 8, 8]), [[0, 0, 3, 3], [-1, -1, -1, -1]], None)
        >>> no_boxes = torch.zeros(0, 4, dtype=torch.long)
        >>> masked = LocalizationSample(image, torch.tensor(2), no_boxes, mask, ~mask)
        >>> batch = collate_localization([masked, masked])
        >>> batch.boxes.shape, batch.mask.shape, batch.ignore.shape
        (torch.Size([2, 0, 4]), torch.Size([2, 8, 8]), torch.Size([2, 8, 8]))
    """
    if len(samples) == 0:
        raise ValueError("collate_localization needs at least one sample, got an empty batch")
    for position, sample in enumerate(samples):
        if not isinstance(sample, LocalizationSample):
            raise TypeError(
                f"collate_localization expects LocalizationSample items, got "
                f"{type(sample).__name__} at position {position}; wrap a tuple "
                "(image, label, boxes[, mask[, ignore]]) as LocalizationSample(*item)"
            )
        if sample.boxes.ndim != 2 or sample.boxes.shape[1] != 4:
            raise ValueError(
                f"collate_localization expects boxes of shape (M, 4), got "
                f"{tuple(sample.boxes.shape)} at position {position}"
            )
    for field, what in ((3, "masks"), (4, "ignore regions")):
        having = [len(sample) > field for sample in samples]
        if any(having) and not all(having):
            raise ValueError(
                f"collate_localization got samples with and without {what} in one batch; "
                "batch one dataset at a time"
            )
    image, label, boxes, *masks = zip(*samples, strict=True)
    return LocalizationSample(
        torch.stack(image),
        torch.stack(label),
        pad_sequence(list(boxes), batch_first=True, padding_value=-1),
        *(torch.stack(column) for column in masks),
    )


# --------------------------------------------------------------------------- deprecated


class WSOLBatch(NamedTuple):
    """The batch of the deprecated ``collate_wsol``: the fields of
    :func:`collate_localization`'s batch under their old names. It has no ``image_ids``:
    the samples no longer carry their ids, which the dataset holds."""

    images: Tensor
    labels: Tensor
    boxes: Tensor
    masks: Tensor | None
    ignore: Tensor | None

    @property
    def image_ids(self) -> NoReturn:
        """Gone: read ``dataset.image_ids[index]`` instead."""
        raise AttributeError(
            "WSOLBatch.image_ids is gone: the samples of WSOLMetadataDataset no longer carry "
            "their image ids; read them from the dataset, dataset.image_ids[index] (in batch "
            "order with a sequential sampler)"
        )


def collate_wsol(samples: Sequence[LocalizationSample]) -> WSOLBatch:
    """The deprecated ``collate_fn`` of the WSOL readers: :func:`collate_localization`, with
    its batch returned as the old :class:`WSOLBatch`."""
    batch = collate_localization(samples)
    return WSOLBatch(batch.image, batch.label, batch.boxes, batch.mask, batch.ignore)


# Old name -> (its replacement, the object it still gives for one release), served by the
# ``__getattr__`` of captum_infocam.data and captum_infocam.data.wsol_metadata.
WSOL_RENAMED: dict[str, tuple[str, object]] = {
    "WSOLSample": (
        "captum_infocam.data.LocalizationSample (an item's image id is dataset.image_ids[index])",
        LocalizationSample,
    ),
    "WSOLBatch": (
        "captum_infocam.data.LocalizationSample (the batch of collate_localization)",
        WSOLBatch,
    ),
    "collate_wsol": ("captum_infocam.data.collate_localization", collate_wsol),
}
