"""The report's fold of hourly buckets (vector sums) equals adding the buckets one by one,
and the fast local-time text equals strftime."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.metrics.periods import Period, local_text
from centralita.metrics.service_level import (
    ALL_KEY,
    COUNT_FIELDS,
    Bucket,
    CountingRules,
    Counts,
    build_report,
)

NOV = Period.month("2026-11")
# Madrid changes to winter time inside October 2026: hour indexes map across the change.
OCT_MADRID = Period.month("2026-10", "Europe/Madrid")
KEYS = ("101", "102", "104", "4639999", "q101b")

counts_st = st.builds(
    Counts,
    **{f.name: st.integers(min_value=0, max_value=10_000) for f in fields(Counts)},
)


def bucket_st(period: Period) -> st.SearchStrategy[Bucket]:
    hours = period.days * 24
    return st.builds(
        Bucket, st.sampled_from(KEYS), st.integers(min_value=0, max_value=hours - 1), counts_st
    )


def reference_fold(
    period: Period, buckets: list[Bucket]
) -> tuple[dict[str, Counts], dict[str, dict[date, Counts]], dict[str, dict[int, Counts]]]:
    """The straightforward fold: every bucket added into its group and ``ALL``."""
    totals: dict[str, Counts] = {}
    daily: dict[str, dict[date, Counts]] = {}
    hourly: dict[str, dict[int, Counts]] = {}
    for bucket in buckets:
        day, hour = period.local_hour(bucket.hour_index)
        for key in (bucket.key, ALL_KEY):
            totals.setdefault(key, Counts()).add(bucket.counts)
            daily.setdefault(key, {}).setdefault(day, Counts()).add(bucket.counts)
            hourly.setdefault(key, {}).setdefault(hour, Counts()).add(bucket.counts)
    return totals, daily, hourly


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([NOV, OCT_MADRID]).flatmap(
        lambda p: st.tuples(st.just(p), st.lists(bucket_st(p), max_size=60))
    )
)
def test_fold_equals_bucket_by_bucket_addition(case: tuple[Period, list[Bucket]]):
    period, buckets = case
    report = build_report(
        period=period,
        rules=CountingRules(),
        buckets=buckets,
        generated_at=datetime(2026, 12, 1, tzinfo=UTC),
        software_version="test",
    )
    totals, daily, hourly = reference_fold(period, buckets)
    assert report.total.counts == totals.get(ALL_KEY, Counts())
    for line in report.lines:
        assert line.counts == totals.get(line.key, Counts())
    # Same groups, same days and hours present (a day without buckets stays absent).
    assert report.daily == daily
    assert report.hourly == hourly


def test_counts_vector_round_trip():
    counts = Counts(**{name: i + 1 for i, name in enumerate(COUNT_FIELDS)})
    assert Counts.from_values(counts.values()) == counts
    total = counts.copy()
    total.add(counts)
    assert total.values() == tuple(2 * v for v in counts.values())


@given(
    st.integers(min_value=0, max_value=4_102_444_800_000),
    st.sampled_from(["America/La_Paz", "Europe/Madrid", "UTC"]),
)
def test_local_text_equals_strftime(epoch_ms: int, tz: str):
    expected = datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")
    assert local_text(epoch_ms, tz) == expected
    assert local_text(None, tz) == ""
