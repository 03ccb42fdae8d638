"""Admission control: the expected wait, computed by hand on a fake clock, decides 503 or not."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import keras_cxr
from keras_cxr.serve import AdmissionControl, CompletionRate, OverloadedError, ServiceTime
from keras_cxr.serve.micro_batcher import QueueFullError

from ._http import post_image


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _control(budget=0.020, batch=4, clock=None):
    # 10 ms a call plus 1 ms an image: a batch of 4 takes 14 ms.
    return AdmissionControl(ServiceTime(0.010, 0.001), batch, budget, clock or Clock())


def _hold(control, count):
    """`count` admitted requests still waiting for their answers (keep the list: a place
    collected as garbage is given back)."""
    places = [control.admit() for _ in range(count)]
    for place in places:
        place.__enter__()
    return places


@pytest.mark.parametrize(
    "timings",
    [{1: 0.011, 16: 0.026}, {1: 0.02, 2: 0.021, 4: 0.026, 8: 0.031, 16: 0.05}, {3: 0.03}],
    ids=["two points", "least squares", "one point"],
)
def test_the_start_up_line_is_the_least_squares_fit_of_the_timings(timings):
    estimate = ServiceTime.from_timings(timings)
    sizes = list(timings)
    if len(sizes) == 1:  # all of it per image
        expected = (0.0, timings[sizes[0]] / sizes[0])
    else:
        slope, intercept = np.polyfit(sizes, list(timings.values()), 1)
        expected = (intercept, slope)
    assert (estimate.overhead, estimate.per_image) == pytest.approx(expected, abs=1e-12)
    assert estimate.seconds(0) == 0.0 and estimate.scale == 1.0


def test_a_larger_batch_measured_faster_is_noise_not_a_negative_cost():
    estimate = ServiceTime.from_timings({1: 0.030, 16: 0.020})
    assert (estimate.per_image, estimate.overhead) == (0.0, pytest.approx(0.025))


@settings(max_examples=40, deadline=None)
@given(
    ratios=st.lists(st.floats(0.1, 10.0), min_size=1, max_size=12),
    smoothing=st.floats(0.05, 1.0),
    size=st.integers(1, 32),
)
def test_the_scale_is_the_exponential_moving_average_of_observed_over_expected(
    ratios, smoothing, size
):
    estimate = ServiceTime(0.004, 0.002, smoothing)
    line = 0.004 + size * 0.002
    scale = 1.0
    for ratio in ratios:
        estimate.observe(size, ratio * line)
        scale = (1 - smoothing) * scale + smoothing * ratio  # the textbook recursion
    assert estimate.scale == pytest.approx(scale, rel=1e-9)
    assert estimate.seconds(size) == pytest.approx(scale * line, rel=1e-9)
    assert estimate.observed == len(ratios)
    estimate.observe(0, 1.0)  # no images, or a clock that went back: ignored
    estimate.observe(size, -1.0)
    assert estimate.observed == len(ratios)


def test_bad_estimates_and_budgets_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"`per_image`. Expected a number of seconds >= 0"):
        ServiceTime(0.01, -1)
    with pytest.raises(ValueError, match=r"`per_image`. Expected a number of seconds > 0 when"):
        ServiceTime(0, 0)
    with pytest.raises(ValueError, match=r"`smoothing`. Expected a number in \(0, 1\]"):
        ServiceTime(0.01, 0.001, smoothing=0)
    with pytest.raises(ValueError, match=r"`timings`. Expected batch sizes >= 1 and seconds > 0"):
        ServiceTime.from_timings({0: 0.01})
    with pytest.raises(ValueError, match=r"`max_queue_wait`. Expected a number of seconds >= 0"):
        _control(budget=-0.1)
    with pytest.raises(ValueError, match=r"`max_queue_wait`. Expected a number of seconds >= 0"):
        keras_cxr.serve.RequestLimits(max_queue_wait=-1)


def test_the_expected_wait_by_hand():
    clock = Clock()
    control = _control(batch=4, clock=clock)
    assert control.expected_wait() == 0.0  # idle: a request alone waits for nothing
    held = _hold(control, 2)
    assert control.expected_wait() == pytest.approx(0.002)  # joins them: a batch of 3
    held += _hold(control, 4)  # 6 ahead: a full batch of 4, then a batch of 2 + itself
    assert control.expected_wait() == pytest.approx(0.014 + 0.013 - 0.011)
    # The worker takes 4 of them and has been at it 5 ms of its 14.
    control._in_flight = (4, clock.now - 0.005)
    assert control.expected_wait() == pytest.approx(0.009 + 0.013 - 0.011)
    clock.now += 1.0  # a batch far over its estimate: nothing more is known to be left
    assert control.expected_wait() == pytest.approx(0.013 - 0.011)
    assert control.pending == len(held) == 6


def test_a_request_over_the_budget_is_refused_before_it_takes_a_place():
    control = _control(budget=0.020, batch=4)
    places = _hold(control, 8)  # 8 ahead: two full batches, then one of 1 = 0.028 s
    reason = r"wait about 0.028 s for the 8 ahead of it, over the budget of 0.020 s \(--max-qu"
    with pytest.raises(OverloadedError, match=reason + r"eue-wait\); retry after 1 s") as refused:
        control.admit().__enter__()
    assert isinstance(refused.value, QueueFullError)  # what the app answers 503 for
    assert refused.value.retry_after == 1 == control.retry_after()
    assert (control.pending, control.admitted, control.shed) == (8, 8, 1)
    places[0].__exit__(None, None, None)  # one answered: 7 ahead, 0.014 + 0.014 - 0.011
    with control.admit():
        assert control.pending == 8
    assert control.describe() == {
        "max_queue_wait_s": 0.020,
        "idle_s": 0.011,  # the model's time of one image: no request had it to itself
        "interval_s": 0.0,  # two answers at the same instant of a fake clock
        "expected_wait_s": pytest.approx(0.017),
        "pending": 7,
        "admitted": 9,
        "shed": 1,
    }


def test_a_place_is_given_back_when_the_request_fails():
    control = _control()
    with pytest.raises(TimeoutError), control.admit():
        raise TimeoutError("deadline")
    assert control.pending == 0 and control.admitted == 1


def test_retry_after_is_the_whole_seconds_the_admitted_work_needs():
    control = AdmissionControl(ServiceTime(0.0, 0.5), 2, max_queue_wait=10.0, clock=Clock())
    held = _hold(control, 5)  # two full batches of 2 (1 s each), then its own of 2: 2.5 s
    control.max_queue_wait = 2.0
    assert control.expected_wait() == pytest.approx(2.5) and control.retry_after() == 3
    with pytest.raises(OverloadedError, match="retry after 3 s") as refused:
        control.admit().__enter__()
    assert refused.value.retry_after == 3 and control.pending == len(held)


def test_timed_calls_show_the_batch_in_flight_and_teach_the_estimate():
    clock = Clock()
    control = _control(batch=4, clock=clock)
    held = _hold(control, 4)
    seen = []

    def explain(items):
        seen.append(control.expected_wait())  # the 4 in flight, none ahead
        clock.now += 0.028  # twice the 14 ms expected
        return [2 * item for item in items]

    assert control.timed(explain)([1, 2, 3, 4]) == [2, 4, 6, 8]
    assert seen == [pytest.approx(0.014)]
    assert control._in_flight is None
    assert control.service_time.scale == pytest.approx(1.0 + 0.2 * (2.0 - 1.0))

    def crash(items):
        clock.now += 0.014
        raise ValueError("bad image")

    with pytest.raises(ValueError, match="bad image"):
        control.timed(crash)([1])
    assert control._in_flight is None and control.service_time.observed == 2
    assert control.pending == len(held)


@settings(max_examples=40, deadline=None)
@given(pending=st.integers(0, 100), batch=st.integers(1, 16))
def test_the_expected_wait_grows_with_the_work_ahead(pending, batch):
    control = _control(batch=batch)
    control.pending = pending
    wait = control.expected_wait()
    control.pending = pending + 1
    assert control.expected_wait() >= wait >= 0.0
    assert (wait == 0.0) == (pending == 0)


@pytest.mark.parametrize(
    "example",
    [ServiceTime, ServiceTime.from_timings, ServiceTime.seconds, ServiceTime.observe,
     AdmissionControl, OverloadedError, CompletionRate],
    ids=lambda f: f.__qualname__,
)  # fmt: skip
def test_docstring_examples(example):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    finder = doctest.DocTestFinder(recurse=False)
    for test in finder.find(example, globs={"keras_cxr": keras_cxr}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_the_server_answers_503_with_the_estimated_retry_after_before_decoding(
    server, client, phantom_pngs, monkeypatch, admission
):
    from keras_cxr.serve import app as app_module

    decoded = []
    real_decode = app_module._decode
    monkeypatch.setattr(app_module, "_decode", lambda *a: decoded.append(1) or real_decode(*a))
    state = server.app.state
    real = state.admission
    observed = real.service_time.observed
    # 3 s an image and one request ahead: a new one would wait 3 s more than alone.
    control = admission(
        AdmissionControl(ServiceTime(0.0, 3.0), 8, max_queue_wait=1.0, clock=Clock())
    )
    (ahead,) = _hold(control, 1)
    data = phantom_pngs[0].read_bytes()
    refused = post_image(client, data)
    health = client.get("/healthz").json()["admission"]
    ahead.__exit__(None, None, None)
    answered = post_image(client, data)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
    assert "would wait about 3.000 s for the 1 ahead of it" in refused.json()["detail"]
    assert decoded == [1]  # the refused upload was never decoded
    assert health == {"max_queue_wait_s": 1.0, "idle_s": 3.0, "interval_s": None,
                      "expected_wait_s": 3.0, "pending": 1, "admitted": 1, "shed": 1}  # fmt: skip
    assert answered.status_code == 200 and (control.admitted, control.pending) == (2, 0)
    assert real.service_time.observed > observed  # the worker's calls are timed
    assert math.isinf(real.budget)  # the package's server: no shedding


def test_the_completion_rate_is_busy_seconds_over_answers_in_a_decaying_window():
    rate = CompletionRate(window=1.0)
    rate.completed(0.0, busy=True)
    assert rate.interval is None  # one answer: no interval yet
    rate.completed(0.5, busy=True)
    rate.completed(0.5, busy=True)  # a batch of two ended at once
    rate.completed(0.75, busy=False)  # the last: idle after it
    decay_a, decay_b = math.exp(-0.5), math.exp(-0.25)  # the two gaps' decays
    busy = (0.5 * 1 + 0) * decay_b + 0.25  # 0.5 s, then 0 s (no decay), then 0.25 s
    answers = ((1 * 1) + 1) * decay_b + 1
    assert decay_a and rate.interval == pytest.approx(busy / answers)
    rate.completed(60.0, busy=True)  # a minute idle is not service time
    assert rate.interval == pytest.approx(busy / answers)
    with pytest.raises(ValueError, match=r"`window`. Expected a number of seconds > 0"):
        CompletionRate(window=0)


def test_a_server_slower_than_its_model_sheds_by_its_own_rate():
    # The model would take 2 ms more for 4 ahead; the server answers one request each 10 ms.
    clock = Clock()
    control = _control(budget=0.031, batch=16, clock=clock)
    rate = control.rate
    for step in range(5):
        rate.completed(clock.now + 0.010 * step, busy=True)
    held = _hold(control, 3)
    assert control.expected_wait() == pytest.approx(3 * 0.010)  # not the model's 0.003
    held += _hold(control, 1)  # 0.030 s: within the budget
    with pytest.raises(OverloadedError, match=r"wait about 0\.040 s for the 4 ahead"):
        control.admit().__enter__()
    assert control.pending == len(held) == 4


def test_the_default_budget_is_the_idle_time_of_a_request():
    clock = Clock()
    control = AdmissionControl(ServiceTime(0.010, 0.001), 4, clock=clock)
    assert control.max_queue_wait is None and control.budget == pytest.approx(0.011)
    with control.admit():  # alone: 0.061 s from admission to answer, slower: a 1 % step
        clock.now += 0.061
    assert control.idle_seconds == pytest.approx(0.011 + 0.01 * (0.061 - 0.011))
    with control.admit():  # faster: all the way (the lower envelope)
        clock.now += 0.009
    assert control.idle_seconds == pytest.approx(0.009)
    assert control.budget == pytest.approx(control.idle_seconds)
    (first,) = _hold(control, 1)
    with control.admit():  # not alone: teaches no idle time
        clock.now += 1.0
    first.__exit__(None, None, None)  # nor the first: another came before its answer
    with pytest.raises(ValueError, match="boom"), control.admit():  # alone, but a failure
        clock.now += 0.001  # (a bomb refused in a millisecond)
        raise ValueError("boom")
    assert control.idle_seconds == pytest.approx(0.009) and control.pending == 0
