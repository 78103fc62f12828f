"""The one dask driver (stemtf.cluster): task loop and scheduler errors, without a cluster."""

from __future__ import annotations

import pytest

from stemtf.cluster import run_tasks
from stemtf.errors import InputError


def _square(x: int) -> int:
    return x * x


def test_synchronous_yields_every_task_with_its_result():
    assert list(run_tasks(_square, iter(range(5)), "synchronous")) == [(k, k * k) for k in range(5)]


def test_unreachable_address_is_one_line_naming_the_setting():
    # simulate names it "scheduler" (tests/simulate); analyze "--scheduler"
    with pytest.raises(
        InputError, match=r"^--scheduler='tcp://127.0.0.1:1' cannot be reached"
    ) as e:
        list(run_tasks(_square, [1], "tcp://127.0.0.1:1"))
    assert "\n" not in str(e.value) and "tcp://HOST:8786" in str(e.value)
