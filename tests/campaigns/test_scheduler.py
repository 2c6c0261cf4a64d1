"""The scheduler's decisions from stored attempts alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from centralita.campaigns.model import Attempt, Customer
from centralita.campaigns.scheduler import (
    Blocklist,
    Done,
    Due,
    InFlight,
    RetryPolicy,
    Waiting,
    customer_status,
    finished,
    plan,
    statuses,
)

T0 = datetime(2025, 2, 25, 14, 0, tzinfo=UTC)
RETRY = RetryPolicy(
    max_attempts=3, spacing_s={"no_answer": 3600, "busy": 600, "failed": 1800, "unknown": 1800}
)
ANA = Customer("C1", "Ana", "tv_cable", ("71111111", "2222222"), date(2025, 3, 28))
NONE = Blocklist()


def att(n: int, outcome: str, minutes: float, phone: str = "71111111", **kw: object) -> Attempt:
    at = T0 + timedelta(minutes=minutes)
    return Attempt(
        attempt_id=n,
        contract="C1",
        phone=phone,
        placed_at=at,
        outcome=outcome,
        result_at=None if outcome == "placing" else at + timedelta(seconds=30),
        **kw,  # type: ignore[arg-type]
    )


def test_first_call_is_due_on_the_first_phone() -> None:
    assert customer_status(ANA, [], NONE, RETRY, T0) == Due("71111111", 1)


def test_a_call_out_blocks_the_customer() -> None:
    assert customer_status(ANA, [att(1, "placing", 0)], NONE, RETRY, T0) == InFlight(1)


def test_retry_waits_for_the_spacing_of_the_last_outcome_and_alternates_phones() -> None:
    tried = [att(1, "busy", 0)]
    ready = T0 + timedelta(seconds=30 + 600)
    assert customer_status(ANA, tried, NONE, RETRY, ready - timedelta(seconds=1)) == Waiting(
        ready, "2222222", 2
    )
    assert customer_status(ANA, tried, NONE, RETRY, ready) == Due("2222222", 2, ready)
    tried = [att(1, "no_answer", 0)]
    assert isinstance(customer_status(ANA, tried, NONE, RETRY, T0 + timedelta(minutes=59)), Waiting)


def test_maximum_attempts_then_done() -> None:
    tried = [att(1, "no_answer", 0), att(2, "busy", 100, "2222222"), att(3, "failed", 200)]
    assert customer_status(ANA, tried, NONE, RETRY, T0 + timedelta(days=1)) == Done("max_attempts")


def test_not_sent_attempts_do_not_count() -> None:
    tried = [att(1, "not_sent", 0), att(2, "not_sent", 5), att(3, "not_sent", 10)]
    status = customer_status(ANA, tried, NONE, RETRY, T0 + timedelta(hours=1))
    assert status == Due("71111111", 1, T0 + timedelta(minutes=10, seconds=90))


def test_reached_or_paid_is_never_called_again() -> None:
    reached = [att(1, "answered", 0, agent="a1", disposition="informado")]
    assert customer_status(ANA, reached, NONE, RETRY, T0 + timedelta(days=2)) == Done("reached")
    bridged_no_result_yet = [att(1, "answered", 0, agent="a1")]
    assert customer_status(ANA, bridged_no_result_yet, NONE, RETRY, T0) == Done("reached")
    paid = Blocklist(paid_contracts=frozenset({"C1"}))
    assert customer_status(ANA, [att(1, "busy", 0)], paid, RETRY, T0 + timedelta(days=1)) == Done(
        "paid"
    )
    assert customer_status(ANA, [], paid, RETRY, T0) == Done("paid")


def test_answered_but_never_bridged_is_not_reached_and_is_retried() -> None:
    """The customer answered, waited in qprepago and hung up before an agent took the
    call: nobody spoke with them. They are called again after the `not_connected` spacing
    (two hours by default), like an unanswered call, and the attempt counts."""
    hung_up_in_queue = [att(1, "answered", 0)]
    answered_at = T0 + timedelta(seconds=30)
    assert customer_status(ANA, hung_up_in_queue, NONE, RETRY, T0 + timedelta(minutes=5)) == (
        Waiting(answered_at + timedelta(hours=2), "2222222", 2)
    )
    later = T0 + timedelta(hours=3)
    assert customer_status(ANA, hung_up_in_queue, NONE, RETRY, later) == Due(
        "2222222", 2, answered_at + timedelta(hours=2)
    )
    spaced = RetryPolicy(max_attempts=3, spacing_s={"not_connected": 600})
    assert customer_status(ANA, hung_up_in_queue, NONE, spaced, T0 + timedelta(minutes=11)) == (
        Due("2222222", 2, answered_at + timedelta(minutes=10))
    )


def test_wrong_number_moves_to_the_next_phone_then_gives_up() -> None:
    wrong = [att(1, "answered", 0, agent="a1", disposition="numero_equivocado")]
    assert customer_status(ANA, wrong, NONE, RETRY, T0 + timedelta(minutes=5)) == Due(
        "2222222", 2, T0 + timedelta(seconds=30)
    )
    both = [
        *wrong,
        att(2, "answered", 5, "2222222", agent="a2", disposition="numero_equivocado"),
    ]
    assert customer_status(ANA, both, NONE, RETRY, T0 + timedelta(hours=1)) == Done("no_phone")


def test_do_not_call_by_phone_and_by_contract() -> None:
    one = Blocklist(dnc_phones=frozenset({"71111111"}))
    assert customer_status(ANA, [], one, RETRY, T0) == Due("2222222", 1)
    both = Blocklist(dnc_phones=frozenset({"71111111", "2222222"}))
    assert customer_status(ANA, [], both, RETRY, T0) == Done("dnc")
    by_contract = Blocklist(dnc_contracts=frozenset({"C1"}))
    assert customer_status(ANA, [], by_contract, RETRY, T0) == Done("dnc")


def _customers(n: int) -> list[Customer]:
    return [
        Customer(
            f"C{i}",
            f"N{i}",
            "tv_cable" if i % 2 else "internet",
            (f"7000000{i}",),
            date(2025, 3, 28 - i),
        )
        for i in range(1, n + 1)
    ]


def test_plan_fills_at_most_the_free_slots_per_queue() -> None:
    people = _customers(6)
    queues = {"tv_cable": "qtv", "internet": "qnet"}
    calls = plan(people, {}, NONE, RETRY, T0, free={"qtv": 2, "qnet": 0}, queue_of=queues)
    assert [c.customer.contract for c in calls] == ["C5", "C3"]  # earliest due date first
    assert all(c.queue == "qtv" for c in calls)
    shared = {"tv_cable": "q", "internet": "q"}
    assert len(plan(people, {}, NONE, RETRY, T0, free={"q": 4}, queue_of=shared)) == 4
    assert plan(people, {}, NONE, RETRY, T0, free={"q": 0}, queue_of=shared) == []


def test_plan_puts_first_calls_before_retries() -> None:
    people = _customers(2)
    tried = {"C1": [Attempt(1, "C1", "70000001", T0, "busy", T0)]}
    later = T0 + timedelta(hours=1)
    calls = plan(
        people,
        tried,
        NONE,
        RETRY,
        later,
        free={"q": 1},
        queue_of={"tv_cable": "q", "internet": "q"},
    )
    assert [c.customer.contract for c in calls] == ["C2"]


def test_finished_when_everyone_is_done() -> None:
    people = _customers(2)
    tried = {"C1": [Attempt(1, "C1", "70000001", T0, "answered", T0, agent="a1")]}
    paid = Blocklist(paid_contracts=frozenset({"C2"}))
    assert finished(statuses(people, tried, paid, RETRY, T0))
    assert not finished(statuses(people, tried, NONE, RETRY, T0))
