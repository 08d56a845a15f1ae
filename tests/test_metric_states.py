"""The dataset-level metrics as torchmetrics metrics: states, reset, devices, merge, forward.

Each case is a metric class, its constructor arguments, batches of update arguments and the
functional form that the accumulated result must equal on the concatenated batches.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_sum

from captum_infocam import StreamingMutualInformation, mutual_information
from captum_infocam.localization import (
    BoxLocalizationMetrics,
    BoxLocalizationResult,
    PixelAveragePrecision,
    box_accuracy,
    pixel_average_precision,
    threshold_grid,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PRIOR = [0.1, 0.2, 0.3, 0.4]


@dataclass
class Case:
    metric: type[Metric]
    kwargs: dict[str, Any]
    batches: list[tuple]
    expected: Callable[[list[tuple]], Any]  # the functional form on concatenated batches

    def make(self, **extra: Any) -> Metric:
        return self.metric(**self.kwargs, **extra)


def _mi_case() -> Case:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=generator, dtype=torch.float64) * 3
    labels = torch.randint(0, 4, (50,), generator=generator)
    chunks = [(logits[a:b], labels[a:b]) for a, b in ((0, 13), (13, 14), (14, 50))]

    def expected(batches: list[tuple]) -> torch.Tensor:
        return mutual_information(
            torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]), PRIOR
        )

    return Case(StreamingMutualInformation, {"class_prior": PRIOR}, chunks, expected)


def _box_data(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    low = torch.randn(count, 1, 4, 4, generator=generator)
    maps = F.interpolate(low, size=(20, 24), mode="bicubic")[:, 0]
    corner = torch.randint(0, 10, (count, 2), generator=generator)
    boxes = torch.cat([corner, corner + torch.tensor([12, 8])], dim=1)
    return maps, boxes, torch.randn(count, 3, generator=generator)


def _box_case() -> Case:
    maps, boxes, logits = _box_data(14, seed=1)
    labels = logits.argmax(1).roll(1)  # some correct, some wrong
    chunks = [
        (maps[a:b], boxes[a:b], logits[a:b], labels[a:b]) for a, b in ((0, 5), (5, 6), (6, 14))
    ]
    thresholds = threshold_grid(20)

    def expected(batches: list[tuple]) -> torch.Tensor:
        return box_accuracy(
            torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]), thresholds,
            (0.3, 0.5, 0.7),
        )  # fmt: skip

    return Case(BoxLocalizationMetrics, {"thresholds": thresholds}, chunks, expected)


def _pxap_case() -> Case:
    maps, _, _ = _box_data(9, seed=2)
    masks = maps.flip(-1) > 0.2
    chunks = [(maps[a:b], masks[a:b]) for a, b in ((0, 4), (4, 9))]

    def expected(batches: list[tuple]) -> torch.Tensor:
        return pixel_average_precision(
            torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches]),
            threshold_grid(30),
        )  # fmt: skip

    return Case(PixelAveragePrecision, {"thresholds": threshold_grid(30)}, chunks, expected)


CASES = [
    pytest.param(_mi_case, id="mutual_information"),
    pytest.param(_box_case, id="box_localization"),
    pytest.param(_pxap_case, id="pixel_average_precision"),
]


def _value(result: Any) -> torch.Tensor:
    """The tensor to compare: the box accuracy curves of a box result, else the result."""
    return result.box_accuracy if isinstance(result, BoxLocalizationResult) else result


def _assert_same(got: Any, want: Any) -> None:
    if isinstance(want, BoxLocalizationResult):
        for field in fields(want):
            a, b = getattr(got, field.name), getattr(want, field.name)
            assert torch.equal(a, b) if isinstance(b, torch.Tensor) else a == b, field.name
    else:
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param()


def test_the_metrics_declare_their_torchmetrics_properties(case: Case) -> None:
    metric = case.make()
    assert isinstance(metric, Metric)
    assert metric.full_state_update is False  # states are sums: forward needs one update
    assert metric.is_differentiable is False
    assert metric.higher_is_better is (None if case.metric is StreamingMutualInformation else True)
    for name, state in metric.metric_state.items():
        assert metric._reductions[name] is dim_zero_sum, name  # summed over processes
        assert state.dtype in (torch.long, torch.float64), name


def test_accumulated_result_equals_the_functional_form(case: Case) -> None:
    metric = case.make()
    for batch in case.batches:
        metric.update(*batch)
    torch.testing.assert_close(_value(metric.compute()), case.expected(case.batches))


def test_reset_forgets_everything(case: Case) -> None:
    metric = case.make()
    for batch in case.batches:
        metric.update(*batch)
    metric.reset()
    assert metric.update_count == 0
    assert not any(bool(state.any()) for state in metric.metric_state.values())
    with (
        pytest.warns(UserWarning, match="called before the ``update``"),
        pytest.raises(RuntimeError, match="seen"),
    ):
        metric.compute()
    metric.update(*case.batches[0])
    torch.testing.assert_close(_value(metric.compute()), case.expected(case.batches[:1]))


def test_state_dict_round_trip_restores_the_accumulation(case: Case) -> None:
    metric = case.make()
    metric.update(*case.batches[0])
    assert metric.state_dict() == {}  # torchmetrics' default: states are not persistent
    metric.persistent(True)
    state = metric.state_dict()
    assert set(state) == set(metric.metric_state)
    restored = case.make()
    restored.load_state_dict(state)
    for batch in case.batches[1:]:
        restored.update(*batch)
    torch.testing.assert_close(_value(restored.compute()), case.expected(case.batches))


def test_pickle_and_clone_keep_the_state(case: Case) -> None:
    metric = case.make()
    metric.update(*case.batches[0])
    for copy in (pickle.loads(pickle.dumps(metric)), metric.clone()):
        _assert_same(copy.compute(), metric.compute())


def test_to_moves_with_the_module_but_keeps_the_state_dtypes(case: Case) -> None:
    metric = case.make()
    metric.update(*case.batches[0])
    expected = metric.compute()
    dtypes = {name: state.dtype for name, state in metric.metric_state.items()}
    for move in (
        lambda m: m.to("cpu"),
        lambda m: m.to(torch.float16),  # a Lightning "16-true" precision plugin does this
        lambda m: m.set_dtype(torch.bfloat16),
        lambda m: m.half(),
    ):
        assert move(metric) is metric
        assert {name: state.dtype for name, state in metric.metric_state.items()} == dtypes
        assert metric.device.type == "cpu"
        metric.reset()
        metric.update(*case.batches[0])
        _assert_same(metric.compute(), expected)


def test_merging_two_metrics_equals_one_metric_over_all_the_data(case: Case) -> None:
    first, second, whole = case.make(), case.make(), case.make()
    first.update(*case.batches[0])
    for batch in case.batches[1:]:
        second.update(*batch)
    for batch in case.batches:
        whole.update(*batch)
    first.merge_state(second)
    _assert_same(first.compute(), whole.compute())
    states = case.make()
    states.merge_state(whole.metric_state)  # a dict of states merges too
    with pytest.warns(UserWarning, match="called before the ``update``"):  # torchmetrics' note
        _assert_same(states.compute(), whole.compute())


def test_forward_returns_the_batch_value_and_accumulates(case: Case) -> None:
    metric = case.make()
    for index, batch in enumerate(case.batches):
        batch_value = metric(*batch)
        alone = case.make()
        alone.update(*batch)
        _assert_same(batch_value, alone.compute())
        assert metric.update_count == index + 1
    torch.testing.assert_close(_value(metric.compute()), case.expected(case.batches))


def test_one_element_results_keep_their_documented_shape() -> None:
    """torchmetrics squeezes one-element tensors; (D,) and (D, T) curves must stay so."""
    maps, boxes, _ = _box_data(6, seed=3)
    metrics = BoxLocalizationMetrics([0.5], (0.5,))
    metrics.update(maps, boxes)
    result = metrics.compute()
    assert result.box_accuracy.shape == (1, 1) and result.max_box_accuracy.shape == (1,)
    assert result.thresholds.shape == (1,) and result.best_threshold.shape == (1,)
    assert result.top1_loc is None
    torch.testing.assert_close(result.box_accuracy, box_accuracy(maps, boxes, [0.5]))


def test_mutual_information_forward_keeps_the_number_of_classes() -> None:
    estimator = StreamingMutualInformation()
    logits, labels = torch.randn(6, 4), torch.randint(0, 4, (6,))
    estimator(logits, labels)
    with pytest.raises(ValueError, match="logits have 3 classes but earlier batches had 4"):
        estimator(torch.randn(6, 3), torch.randint(0, 3, (6,)))
    other = StreamingMutualInformation()
    other.update(torch.randn(6, 3), torch.randint(0, 3, (6,)))
    with pytest.raises(ValueError, match="logits have 3 classes but earlier batches had 4"):
        estimator.merge_state(other)
    fresh = StreamingMutualInformation()
    fresh.merge_state(estimator)
    with pytest.raises(ValueError, match="earlier batches had 4"):
        fresh.update(torch.randn(6, 3), torch.randint(0, 3, (6,)))
    assert fresh.num_samples == 6


def test_mutual_information_standard_error_and_bits_after_a_merge() -> None:
    generator = torch.Generator().manual_seed(5)
    logits = torch.randn(40, 3, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (40,), generator=generator)
    first, second = StreamingMutualInformation(unit="bits"), StreamingMutualInformation()
    first.update(logits[:15], labels[:15])
    second.update(logits[15:], labels[15:])
    first.merge_state(second)
    pmi = torch.stack([mutual_information(logits[i : i + 1], labels[i : i + 1]) for i in range(40)])
    torch.testing.assert_close(first.compute(), pmi.mean() / math.log(2))
    torch.testing.assert_close(first.standard_error(), pmi.std() / math.sqrt(40) / math.log(2))


@pytest.mark.cuda
def test_the_states_follow_cuda_inputs(case: Case) -> None:
    metric = case.make()  # built on the CPU
    batches = [tuple(x.cuda() for x in batch) for batch in case.batches]
    metric(*batches[0])
    for batch in batches[1:]:
        metric.update(*batch)
    assert metric.device.type == "cuda"
    assert all(state.is_cuda for state in metric.metric_state.values())
    torch.testing.assert_close(_value(metric.compute()).cpu(), case.expected(case.batches))
