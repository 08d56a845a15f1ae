r"""Synthetic time series with one class-specific event each, at an exact interval.

The 1-D counterpart of :mod:`captum_infocam.data.synthetic`, for time-series classifiers
(``Conv1d`` models) and their maps. Every series has one channel and ``length`` samples:

* **The event** is one motif of the series' class (see :data:`SERIES_CLASS_NAMES`), added at
  a random position with a random duration (15%-35% of the length by default) and amplitude
  (0.8 to 1.5). It is the *only* class-specific signal, and it lies exactly in
  ``intervals[n] = (start, end)``, half-open like a slice: samples ``start .. end - 1``.
  ``events`` holds it alone; it is zero outside the interval. With ``u`` the position inside
  the event, from 0 to 1:

  - *chirp*: a sine whose frequency rises linearly, from 1.5-2.5 to 6-9 cycles per event,
    with 10% tapered ends;
  - *square pulses*: a +-1 square wave of 3 to 5 cycles;
  - *damped oscillation*: ``exp(-3 u) sin(2 pi f u)`` with 4 to 7 cycles: an abrupt onset;
  - *sawtooth burst*: 3 to 5 rising ramps from -1 to 1.

  The cycle counts are drawn per series and overlap between classes, so neither the
  frequency nor the energy of the event names the class: its shape does.
* **Distractors** are up to ``max_distractors`` events common to every class, anywhere in
  the series (they may overlap the event): Gaussian bumps of either sign (width 3-12 samples,
  amplitude 0.5-1.5) and Hann-windowed sine bursts at a constant frequency (10%-30% of the
  length, 2 to 8 cycles, amplitude 0.5-1.2), which look like oscillations but belong to no
  class.
* **A decoy**, with probability ``decoy_probability``, is a short fragment (20%-35% of the
  event's duration, at 50%-80% of its amplitude) of the motif of *another* class, placed
  outside the event's interval: a map that also lights up other classes' evidence is wrong
  there. ``decoy_intervals`` gives its interval (``start == end`` where there is none).
* **The background** is a random drift (a line and a slow sinusoid, periods of 1 to 3
  lengths) plus white Gaussian noise of standard deviation 0.2 to 0.4.

Everything is drawn from one :class:`torch.Generator` seeded by ``seed`` on the CPU and
rendered there with batched tensor operations (a loop over the handful of distractor slots,
never over series or samples), so the same seed gives the same data everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from captum_infocam._validation import check_int, check_real
from captum_infocam.data._batch import SyntheticBatch
from captum_infocam.data._scenes import check_range

__all__ = ["SERIES_CLASS_NAMES", "SeriesBatch", "make_series_data"]

SERIES_CLASS_NAMES: tuple[str, ...] = (
    "chirp",
    "square pulses",
    "damped oscillation",
    "sawtooth burst",
)
"""Names of the event motifs; class ``k`` of a ``K``-class set is ``SERIES_CLASS_NAMES[k]``."""

MIN_SERIES_LENGTH = 256
"""Smallest supported ``length``: below it the shortest events cannot resolve their cycles."""

_TAPER = 0.1  # the chirp's tapered ends, as a fraction of the event


@dataclass(frozen=True)
class SeriesBatch(SyntheticBatch):
    r"""Time series with labels and the exact interval of each one's class event.

    Attributes:
        series (Tensor): ``(N, 1, L)`` float32, the model's input.
        labels (Tensor): ``(N,)`` int64 class indices in ``[0, num_classes)``.
        intervals (Tensor): ``(N, 2)`` int64 half-open ``(start, end)`` of the class event:
            it spans samples ``start .. end - 1``.
        events (Tensor): ``(N, L)`` float32, the class event alone (``series`` minus
            background, distractors and decoy); zero outside ``intervals``.
        decoy_intervals (Tensor): ``(N, 2)`` int64 half-open interval of the decoy (a
            fragment of another class's motif), disjoint from ``intervals``; ``start == end``
            where the series has no decoy.
        num_classes (int): the number of classes ``K``.

    Examples::

        >>> data = make_series_data(8, seed=0)
        >>> data.series.shape, data.intervals.shape, data.class_names[0]
        (torch.Size([8, 1, 384]), torch.Size([8, 2]), 'chirp')
        >>> train, test = data.subset(slice(0, 6)), data.subset(slice(6, None))
        >>> len(train), len(test)
        (6, 2)
    """

    series: Tensor
    labels: Tensor
    intervals: Tensor
    events: Tensor
    decoy_intervals: Tensor
    num_classes: int

    names_of_classes = SERIES_CLASS_NAMES

    @property
    def masks(self) -> Tensor:
        """``(N, L)`` bool: the samples of each series' class event (its interval)."""
        positions = torch.arange(self.series.shape[-1], device=self.intervals.device)
        start, end = self.intervals[:, :1], self.intervals[:, 1:]
        return (positions >= start) & (positions < end)


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)


def _integers(gen: torch.Generator, low: Tensor, high: Tensor) -> Tensor:
    """One integer per entry, uniform in ``[low, high]`` (inclusive), as int64."""
    u = torch.rand(low.shape, generator=gen, dtype=torch.float64)
    return low + torch.floor(u * (high - low + 1).double()).long().clamp(max=high - low)


def _motifs(u: Tensor, labels: Tensor, gen: torch.Generator) -> Tensor:
    """Every series' motif of class ``labels`` at relative positions ``u`` ``(N, L)``.

    The cycle counts are drawn for every class and every series, so the random stream does
    not depend on the labels' values.
    """
    n = labels.shape[0]
    start_cycles, end_cycles = _uniform(gen, n, 1.5, 2.5), _uniform(gen, n, 6.0, 9.0)
    square_cycles = _integers(gen, torch.full((n,), 3), torch.full((n,), 5)).double()
    damped_cycles = _uniform(gen, n, 4.0, 7.0)
    saw_cycles = _integers(gen, torch.full((n,), 3), torch.full((n,), 5)).double()
    taper = torch.clamp(torch.minimum(u, 1 - u) / _TAPER, max=1.0)
    phase = start_cycles[:, None] * u + (end_cycles - start_cycles)[:, None] * u.square() / 2
    square_phase = torch.frac(square_cycles[:, None] * u)
    motifs = torch.stack(
        (
            taper * torch.sin(2 * math.pi * phase),
            torch.where(square_phase < 0.5, 1.0, -1.0).double(),
            torch.exp(-3 * u) * torch.sin(2 * math.pi * damped_cycles[:, None] * u),
            2 * torch.frac(saw_cycles[:, None] * u) - 1,
        )
    )
    return motifs.gather(0, labels.view(1, -1, 1).expand(1, -1, u.shape[1]))[0]


def _place(positions: Tensor, start: Tensor, duration: Tensor) -> tuple[Tensor, Tensor]:
    """The mask ``(N, L)`` of ``[start, start + duration)`` and the relative position in it."""
    u = (positions - start[:, None]).double() / duration[:, None].double()
    inside = (positions >= start[:, None]) & (positions < (start + duration)[:, None])
    return inside, torch.where(inside, u, 0.0)


def make_series_data(
    num_series: int,
    *,
    num_classes: int = 4,
    length: int = 384,
    seed: int = 0,
    event_scale: tuple[float, float] = (0.15, 0.35),
    max_distractors: int = 3,
    decoy_probability: float = 0.5,
    device: torch.device | str | None = None,
) -> SeriesBatch:
    r"""Generate a synthetic time-series classification set with exact event intervals.

    Each series holds one event of its class (a chirp, square pulses, a damped oscillation or
    a sawtooth burst) at a random position and duration, on a drifting, noisy background with
    distractor bumps and sine bursts common to all classes and, sometimes, a short decoy
    fragment of another class's motif (see the module's description). Labels are balanced
    (counts differ by at most one) and shuffled, so any slice is a random sample.

    Args:
        num_series (int): the number of series ``N``.
        num_classes (int, optional): the number of classes ``K``, from 2 to
            ``len(SERIES_CLASS_NAMES)`` (4). Default: 4
        length (int, optional): the number of samples ``L`` of each series, at least
            ``MIN_SERIES_LENGTH`` (256). Default: 384
        seed (int, optional): the seed of the generator; the same seed gives the same data on
            any device. Default: 0
        event_scale (tuple of float, optional): the range of the event's duration as a
            fraction of ``length``, within ``[0.15, 0.5]``. Default: ``(0.15, 0.35)``
        max_distractors (int, optional): distractor slots per series, each filled with
            probability 0.75 by a bump or a sine burst (even odds). Default: 3
        decoy_probability (float, optional): the probability that a series holds a decoy,
            in ``[0, 1]``. Default: 0.5
        device (torch.device or str, optional): where the tensors are returned. Default: None
            (CPU)

    Returns:
        *SeriesBatch* with ``series`` ``(N, 1, L)`` float32, ``labels`` ``(N,)`` int64,
        ``intervals`` and ``decoy_intervals`` ``(N, 2)`` int64 (half-open) and ``events``
        ``(N, L)`` float32.

    Raises:
        TypeError: if a count or length is not an int, or a probability not a number.
        ValueError: if ``num_series`` is not positive, ``num_classes`` is out of range,
            ``length`` is below ``MIN_SERIES_LENGTH``, ``event_scale`` is not an increasing
            pair within ``[0.15, 0.5]``, ``max_distractors`` is negative or
            ``decoy_probability`` is outside ``[0, 1]``.

    Examples::

        >>> data = make_series_data(1000, seed=0)
        >>> data.series.shape, torch.bincount(data.labels).tolist()
        (torch.Size([1000, 1, 384]), [250, 250, 250, 250])
        >>> start, end = data.intervals[0].tolist()
        >>> bool(data.events[0, :start].eq(0).all() and data.events[0, end:].eq(0).all())
        True
    """
    num_series = check_int(num_series, "num_series", 1)
    num_classes = check_int(num_classes, "num_classes", 2)
    if num_classes > len(SERIES_CLASS_NAMES):
        raise ValueError(
            f"num_classes must be at most {len(SERIES_CLASS_NAMES)} (one per event motif), "
            f"got {num_classes}"
        )
    length = check_int(length, "length", MIN_SERIES_LENGTH)
    seed = check_int(seed, "seed", -(2**63))
    max_distractors = check_int(max_distractors, "max_distractors", 0)
    decoy_probability = check_real(decoy_probability, "decoy_probability")
    if not 0 <= decoy_probability <= 1:
        raise ValueError(f"decoy_probability must be in [0, 1], got {decoy_probability}")
    scale = check_range(event_scale, "event_scale", 0.15, 0.5)

    gen = torch.Generator().manual_seed(seed)
    n = num_series
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
    positions = torch.arange(length)

    # The event: duration, start and amplitude.
    duration = torch.round(_uniform(gen, n, *scale) * length).long()
    start = _integers(gen, torch.zeros(n, dtype=torch.long), length - duration)
    amplitude = _uniform(gen, n, 0.8, 1.5)
    inside, u = _place(positions, start, duration)
    events = torch.where(inside, amplitude[:, None] * _motifs(u, labels, gen), 0.0)

    # The background: drift and white noise.
    t = positions.double() / length
    slope, wave = _uniform(gen, n, -1.0, 1.0), _uniform(gen, n, 0.0, 0.8)
    period, phase = _uniform(gen, n, 1.0, 3.0), _uniform(gen, n, 0.0, 2 * math.pi)
    noise_level = _uniform(gen, n, 0.2, 0.4)
    background = (
        slope[:, None] * (t - 0.5)
        + wave[:, None] * torch.sin(2 * math.pi * t / period[:, None] + phase[:, None])
        + noise_level[:, None] * torch.randn((n, length), generator=gen, dtype=torch.float64)
    )

    # Distractors: Gaussian bumps or constant-frequency sine bursts, anywhere.
    for _ in range(max_distractors):
        present = torch.rand(n, generator=gen) < 0.75
        is_bump = torch.rand(n, generator=gen) < 0.5
        centre = _uniform(gen, n, 0.0, 1.0) * length
        width = _uniform(gen, n, 3.0, 12.0)
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).double()
        bump = (sign * _uniform(gen, n, 0.5, 1.5))[:, None] * torch.exp(
            -0.5 * ((positions - centre[:, None]) / width[:, None]).square()
        )
        burst_duration = torch.round(_uniform(gen, n, 0.1, 0.3) * length).long()
        burst_start = _integers(gen, torch.zeros(n, dtype=torch.long), length - burst_duration)
        cycles, burst_phase = _uniform(gen, n, 2.0, 8.0), _uniform(gen, n, 0.0, 2 * math.pi)
        burst_amplitude = _uniform(gen, n, 0.5, 1.2)
        burst_inside, v = _place(positions, burst_start, burst_duration)
        burst = torch.where(
            burst_inside,
            burst_amplitude[:, None]
            * torch.sin(math.pi * v).square()
            * torch.sin(2 * math.pi * cycles[:, None] * v + burst_phase[:, None]),
            0.0,
        )
        distractor = torch.where(is_bump[:, None], bump, burst)
        background += torch.where(present[:, None], distractor, 0.0)

    # The decoy: a fragment of another class's motif, outside the event.
    has_decoy = torch.rand(n, generator=gen) < decoy_probability
    other = (labels + torch.randint(1, num_classes, (n,), generator=gen)) % num_classes
    decoy_duration = torch.round(_uniform(gen, n, 0.2, 0.35) * duration.double()).long()
    before = (start - decoy_duration + 1).clamp(min=0)  # decoy starts 0 .. start - D
    after = (length - decoy_duration - start - duration + 1).clamp(min=0)  # end .. L - D
    has_decoy &= before + after > 0
    choice = _integers(gen, torch.zeros(n, dtype=torch.long), (before + after - 1).clamp(min=0))
    decoy_start = torch.where(choice < before, choice, start + duration + choice - before)
    decoy_duration = torch.where(has_decoy, decoy_duration, 0)
    decoy_start = torch.where(has_decoy, decoy_start, 0)
    fragment_offset = _uniform(gen, n, 0.0, 1.0) * (1 - decoy_duration / duration.double())
    decoy_inside, w = _place(positions, decoy_start, decoy_duration.clamp(min=1))
    decoy_inside &= has_decoy[:, None]
    fragment = _motifs(
        fragment_offset[:, None] + w * (decoy_duration / duration.double())[:, None], other, gen
    )
    decoy_amplitude = amplitude * _uniform(gen, n, 0.5, 0.8)
    background += torch.where(decoy_inside, decoy_amplitude[:, None] * fragment, 0.0)

    target = torch.device("cpu") if device is None else torch.device(device)
    return SeriesBatch(
        series=(background + events).float()[:, None].to(target),
        labels=labels.to(target),
        intervals=torch.stack((start, start + duration), dim=1).to(target),
        events=events.float().to(target),
        decoy_intervals=torch.stack((decoy_start, decoy_start + decoy_duration), dim=1).to(target),
        num_classes=num_classes,
    )
