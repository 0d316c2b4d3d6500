"""How an answer becomes ok, retry or permanent, and what an error text may hold."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest

from tests.notify.samples import NOW
from upstate.notify.delivery import Delivery, Outcome, from_http_status, parse_retry_after, redact


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK),
        (202, Outcome.OK),
        (204, Outcome.OK),
        (301, Outcome.PERMANENT),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (403, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
        (408, Outcome.RETRY),
        (410, Outcome.PERMANENT),
        (413, Outcome.PERMANENT),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (504, Outcome.RETRY),
    ],
)
def test_it_classifies_an_http_status(status: int, outcome: Outcome) -> None:
    delivery = from_http_status(status, retry_after=None, body="", now=NOW)

    assert delivery.outcome is outcome
    assert delivery.status_code == status


def test_it_reads_retry_after_as_seconds_or_a_date() -> None:
    in_90s = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)

    assert parse_retry_after("30", NOW) == 30
    assert parse_retry_after(in_90s, NOW) == 90
    assert parse_retry_after(past, NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("", NOW) is None
    assert parse_retry_after("-5", NOW) is None


def test_it_masks_every_secret_even_one_inside_another() -> None:
    text = "key=abc123 and abc123456 again"

    assert redact(text, ("abc123", "abc123456", "")) == "key=*** and *** again"


def test_it_keeps_error_texts_short_and_on_one_line() -> None:
    delivery = Delivery.retry("line one\nline two " + "x" * 1000)

    assert "\n" not in str(delivery.error)
    assert len(str(delivery.error)) <= 300
    assert not delivery.done
    assert Delivery.ok().done
    assert Delivery.skipped("no").done
