"""The sample type of every localisation set (internal; public as ``captum_infocam.data``)."""

from __future__ import annotations

from torch import Tensor

from captum_infocam._deprecation import warn_renamed


class LocalizationSample(tuple):
    """One image of a localisation set: ``(image, label, boxes)``, then ``mask`` if the set
    has object masks.

    Every reader returns it: :class:`~captum_infocam.data.SyntheticLocalization` (with masks),
    :class:`~captum_infocam.data.CUB200` and :class:`~captum_infocam.data.TinyImageNet` (boxes
    only). A tuple of three tensors, or four with a mask, used like a named tuple:
    ``image, label, boxes = sample`` for a set without masks, and
    :func:`torch.utils.data.default_collate` stacks samples into a sample of batched tensors
    (boxes ``(N, M, 4)``, which the box metrics accept as is). A batch must not mix samples
    with and without a mask: the masks would be dropped.

    Args:
        image (Tensor): ``(3, H, W)`` float32, in ``[0, 1]`` before any transform.
        label (Tensor): scalar int64 class index.
        boxes (Tensor): ``(M, 4)`` int64 inclusive pixel boxes ``(x1, y1, x2, y2)`` in the
            coordinates of ``image``, one row per object.
        mask (Tensor, optional): ``(H, W)`` bool, the objects' pixels. Default: None (the
            set has boxes only).

    Attributes:
        image (Tensor): the image.
        label (Tensor): the class index.
        boxes (Tensor): the ``(M, 4)`` boxes.
        mask (Tensor or None): the object mask, or ``None``.

    Examples::

        >>> sample = LocalizationSample(
        ...     torch.zeros(3, 4, 4), torch.tensor(1), torch.tensor([[0, 0, 3, 3]]))
        >>> image, label, boxes = sample
        >>> boxes.shape, sample.mask is None
        (torch.Size([1, 4]), True)
        >>> with_mask = sample._replace(mask=torch.ones(4, 4, dtype=torch.bool))
        >>> len(with_mask), with_mask.mask.shape
        (4, torch.Size([4, 4]))
    """

    __slots__ = ()
    # Marks a named tuple for torch's default_collate and pin_memory, which rebuild the sample
    # as type(sample)(*batched_fields): three fields give a sample without a mask.
    _fields = ("image", "label", "boxes", "mask")

    def __new__(
        cls, image: Tensor, label: Tensor, boxes: Tensor, mask: Tensor | None = None
    ) -> LocalizationSample:
        fields = (image, label, boxes) if mask is None else (image, label, boxes, mask)
        return super().__new__(cls, fields)

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
    def box(self) -> Tensor:
        """The first box, ``boxes[..., 0, :]``: the old ``(4,)`` field, deprecated."""
        warn_renamed("LocalizationSample.box", "LocalizationSample.boxes, whose shape is (M, 4)")
        return self.boxes[..., 0, :]

    def _replace(self, **changes: Tensor | None) -> LocalizationSample:
        """A copy with some fields replaced (``mask=None`` drops the mask), as for a named
        tuple."""
        fields: dict[str, Tensor | None] = dict(
            zip(self._fields, (self.image, self.label, self.boxes, self.mask), strict=True)
        )
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise ValueError(f"LocalizationSample has no field {unknown[0]!r}")
        fields.update(changes)
        return LocalizationSample(**fields)  # type: ignore[arg-type]
