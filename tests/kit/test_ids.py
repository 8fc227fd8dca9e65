import time
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.kit.ids import time_ordered_uuid, time_ordered_uuids


def test_version_7_with_the_rfc_variant() -> None:
    value = time_ordered_uuid()
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_the_first_48_bits_are_the_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = time_ordered_uuid()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after


def test_ids_of_later_milliseconds_sort_after() -> None:
    first = time_ordered_uuid()
    time.sleep(0.002)
    assert time_ordered_uuid() > first


@settings(max_examples=50)
@given(st.integers(min_value=1, max_value=200))
def test_distinct_within_one_millisecond(count: int) -> None:
    values = [time_ordered_uuid() for _ in range(count)]
    assert len(set(values)) == count


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=500))
def test_a_batch_is_distinct_version_7_ids_of_this_millisecond(count: int) -> None:
    before = time.time_ns() // 1_000_000
    values = time_ordered_uuids(count)
    after = time.time_ns() // 1_000_000
    assert len(values) == len(set(values)) == count
    for value in values:
        assert (value.version, value.variant) == (7, uuid.RFC_4122)
        assert before <= value.int >> 80 <= after


def test_with_time_ordered_ids_pairs_each_item_with_a_new_id() -> None:
    from adimple.kit.ids import with_time_ordered_ids

    pairs = list(with_time_ordered_ids(["a", "b", "c"]))
    assert [item for _, item in pairs] == ["a", "b", "c"]
    assert len({row_id for row_id, _ in pairs}) == 3
    assert all(row_id.version == 7 for row_id, _ in pairs)
