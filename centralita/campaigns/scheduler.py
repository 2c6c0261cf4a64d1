"""Which customer to call next (pure: no I/O, no clock; `now` is an argument).

The decision is made from the stored attempts only, so a paused, resumed or restarted
dialer takes the same decision. Per customer:

- an attempt without result (``placing``) means the call is out: never call again now;
- reached (an answered attempt that was bridged to an agent, whose disposition is not
  ``numero_equivocado``), paid, or on the do-not-call list (by contract, or every phone
  of it): never call again. An answered call that never reached an agent (the customer
  hung up while queued) did not reach the customer: it is retried like an unanswered one
  (spacing ``not_connected``);
- a ``numero_equivocado`` answer rules that phone out; the others may still be tried;
- otherwise at most ``max_attempts`` counted attempts, each one spaced after the previous
  result by the spacing of its outcome; phones are used in turn (the least tried first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final, Literal

from centralita.campaigns.model import Attempt, Customer

NOT_COUNTED: Final = frozenset({"not_sent"})

DEFAULT_SPACING_S: Final[dict[str, float]] = {
    "no_answer": 2 * 3600.0,
    "busy": 30 * 60.0,
    "failed": 60 * 60.0,
    "unknown": 60 * 60.0,
    "not_sent": 60.0,
    "not_connected": 2 * 3600.0,
    "answered": 0.0,
}
"""Per outcome; ``not_connected`` is an answered attempt never bridged to an agent."""


def spacing_key(attempt: Attempt) -> str:
    """The spacing that follows `attempt`: its outcome, or ``not_connected`` for an
    answered call no agent took."""
    if attempt.outcome == "answered" and not attempt.agent:
        return "not_connected"
    return attempt.outcome


def bridged(attempt: Attempt) -> bool:
    """True when an agent talked to the customer on this attempt (answered and bridged)."""
    return attempt.outcome == "answered" and bool(attempt.agent)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a customer gets and how far apart, per outcome of the last one."""

    max_attempts: int = 3
    spacing_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPACING_S))

    def spacing(self, outcome: str) -> timedelta:
        """Minimum time after an attempt with `outcome` before the next one."""
        default = DEFAULT_SPACING_S.get(outcome, DEFAULT_SPACING_S["failed"])
        return timedelta(seconds=self.spacing_s.get(outcome, default))


FinalReason = Literal["reached", "paid", "dnc", "max_attempts", "no_phone"]


@dataclass(frozen=True, slots=True)
class Done:
    """The customer will not be called again in this campaign."""

    reason: FinalReason


@dataclass(frozen=True, slots=True)
class InFlight:
    """A call to the customer is out (no result yet)."""

    attempt_id: int


@dataclass(frozen=True, slots=True)
class Waiting:
    """The next attempt is allowed from `until` (retry spacing)."""

    until: datetime
    phone: str
    attempt_no: int


@dataclass(frozen=True, slots=True)
class Due:
    """The customer may be called now on `phone`; this is attempt number `attempt_no`."""

    phone: str
    attempt_no: int
    ready_at: datetime | None = None


Status = Done | InFlight | Waiting | Due


@dataclass(frozen=True, slots=True)
class Blocklist:
    """The do-not-call list and the paid contracts, as the scheduler sees them."""

    dnc_phones: frozenset[str] = frozenset()
    dnc_contracts: frozenset[str] = frozenset()
    paid_contracts: frozenset[str] = frozenset()


def counted(attempts: Iterable[Attempt]) -> list[Attempt]:
    """The attempts that count towards the maximum (all but those never sent)."""
    return [a for a in attempts if a.outcome not in NOT_COUNTED]


def customer_status(
    customer: Customer,
    attempts: Sequence[Attempt],
    blocklist: Blocklist,
    retry: RetryPolicy,
    now: datetime,
) -> Status:
    """What to do with one customer at `now`, given its attempts in placing order."""
    for attempt in attempts:
        if attempt.in_flight:
            return InFlight(attempt.attempt_id)
    wrong: set[str] = set()
    for attempt in attempts:
        if bridged(attempt):
            if attempt.disposition == "numero_equivocado":
                wrong.add(attempt.phone)
            else:
                return Done("reached")
    if customer.contract in blocklist.paid_contracts:
        return Done("paid")
    if customer.contract in blocklist.dnc_contracts:
        return Done("dnc")
    allowed = [p for p in customer.phones if p not in blocklist.dnc_phones]
    if not allowed:
        return Done("dnc")
    usable = [p for p in allowed if p not in wrong]
    if not usable:
        return Done("no_phone")
    tries = counted(attempts)
    if len(tries) >= retry.max_attempts:
        return Done("max_attempts")
    per_phone = {p: sum(1 for a in tries if a.phone == p) for p in usable}
    phone = min(usable, key=lambda p: (per_phone[p], usable.index(p)))
    attempt_no = len(tries) + 1
    if not attempts:
        return Due(phone, attempt_no)
    last = attempts[-1]
    ready = (last.result_at or last.placed_at) + retry.spacing(spacing_key(last))
    if ready > now:
        return Waiting(ready, phone, attempt_no)
    return Due(phone, attempt_no, ready)


@dataclass(frozen=True, slots=True)
class Call:
    """A call the dialer should place now."""

    customer: Customer
    phone: str
    attempt_no: int
    queue: str


def plan(
    customers: Sequence[Customer],
    attempts: Mapping[str, Sequence[Attempt]],
    blocklist: Blocklist,
    retry: RetryPolicy,
    now: datetime,
    *,
    free: Mapping[str, int],
    queue_of: Mapping[str, str],
) -> list[Call]:
    """The calls to place now: at most `free[queue]` per queue, first-time calls first
    (earliest due date), then retries in the order they became due.

    Args:
        customers: the campaign list.
        attempts: each contract's attempts in placing order.
        blocklist: do-not-call and paid contracts.
        retry: attempts and spacing.
        now: the current time (aware).
        free: per queue, how many more calls may be out now (free agents minus calls
            already out for that queue).
        queue_of: the queue of each service's agents.
    """
    due: list[tuple[tuple[int, datetime, date, str], Call]] = []
    for customer in customers:
        status = customer_status(
            customer, attempts.get(customer.contract, ()), blocklist, retry, now
        )
        if isinstance(status, Due):
            first = status.ready_at is None
            key = (0 if first else 1, status.ready_at or now, customer.due_date, customer.contract)
            due.append(
                (key, Call(customer, status.phone, status.attempt_no, queue_of[customer.service]))
            )
    due.sort(key=lambda item: item[0])
    left = dict(free)
    calls: list[Call] = []
    for _key, call in due:
        if left.get(call.queue, 0) > 0:
            left[call.queue] -= 1
            calls.append(call)
    return calls


def statuses(
    customers: Sequence[Customer],
    attempts: Mapping[str, Sequence[Attempt]],
    blocklist: Blocklist,
    retry: RetryPolicy,
    now: datetime,
) -> dict[str, Status]:
    """Every customer's status, by contract."""
    return {
        c.contract: customer_status(c, attempts.get(c.contract, ()), blocklist, retry, now)
        for c in customers
    }


def earliest_retry(found: Mapping[str, Status]) -> datetime | None:
    """When the first waiting customer becomes due, if any is waiting."""
    times = [s.until for s in found.values() if isinstance(s, Waiting)]
    return min(times) if times else None


def finished(found: Mapping[str, Status]) -> bool:
    """True when every customer is done (nothing out, nothing left to try)."""
    return all(isinstance(s, Done) for s in found.values())
