"""The wait before a webhook's next try as the retry activity logs it (activities.webhooks.backoff)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.common import RetryPolicy

from activities.webhooks import backoff


def test_the_wait_doubles_from_ten_seconds_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 11)] == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]


@pytest.mark.parametrize("attempt", [44, 45, 100, 10_000])
def test_a_long_run_of_attempts_waits_the_cap_and_never_overflows(attempt: int) -> None:
    # 10 s x 2**43 is more days than a timedelta holds: the 44th attempt used to raise OverflowError, unlogged
    assert backoff(attempt) == timedelta(hours=1)


def test_a_policy_of_its_own_is_followed_and_without_a_cap_gets_temporals_hundredfold() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=3), backoff_coefficient=3.0)
    assert [backoff(n, policy).total_seconds() for n in (1, 2, 3)] == [3, 9, 27]
    assert backoff(500, policy) == timedelta(seconds=300)
    flat = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=1.0,
                       maximum_interval=timedelta(minutes=1))
    assert backoff(1_000, flat) == timedelta(seconds=5)
