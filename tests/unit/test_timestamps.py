"""Wire timestamps: our RFC 3339 `Z` form and Stigmer's naive `isoformat()` form."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import timestamps


def test_now_is_rfc3339_utc_with_z_and_microseconds() -> None:
    before = datetime.now(UTC)
    stamp = timestamps.now_rfc3339()
    after = datetime.now(UTC)
    assert stamp.endswith("Z") and "+" not in stamp and len(stamp) == len("2026-01-22T10:30:00.123456Z")
    assert before <= timestamps.parse(stamp) <= after


def test_parse_reads_stigmers_naive_utc_forms_as_utc() -> None:
    assert timestamps.parse("2026-01-22T10:30:00") == datetime(2026, 1, 22, 10, 30, tzinfo=UTC)
    assert timestamps.parse("2026-01-22T10:30:00.123456") == datetime(
        2026, 1, 22, 10, 30, 0, 123456, tzinfo=UTC
    )


def test_parse_reads_z_and_offsets_and_gives_none_for_nonsense() -> None:
    assert timestamps.parse("2026-01-22T10:30:00.5Z") == datetime(2026, 1, 22, 10, 30, 0, 500000, tzinfo=UTC)
    assert timestamps.parse("2026-01-22T12:30:00+02:00") == datetime(2026, 1, 22, 10, 30, tzinfo=UTC)
    assert timestamps.parse("") is None
    assert timestamps.parse("yesterday") is None


def test_sort_key_orders_mixed_forms_by_time_not_by_text() -> None:
    # As text, "…:00Z" sorts after "…:00.5" ('Z' > '.'); by time it is earlier.
    stamps = ["2026-01-22T10:30:00.5", "2026-01-22T10:30:00Z", "", "2026-01-22T10:29:59.999999"]
    assert sorted(stamps, key=timestamps.sort_key) == [
        "", "2026-01-22T10:29:59.999999", "2026-01-22T10:30:00Z", "2026-01-22T10:30:00.5",
    ]
