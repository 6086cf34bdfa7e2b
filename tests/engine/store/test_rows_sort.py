"""engine.store.rows.sort_order against Python's sort of (length, bytes) keys, in numpy and in
the fallback for values too wide for a fixed-width array (NUL bytes, empty values, high bytes);
and sort_dictionaries keeping every row's values while sorting the dictionaries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store.rows import sort_dictionaries, sort_order
from tests.engine.store.test_part import make_rows, same_rows

distinct_values = st.lists(
    st.binary(max_size=12) | st.sampled_from([b"", b"\x00", b"a\x00", b"a", b"\xff"]), unique=True
)


def _reference(values: list[bytes]) -> list[int]:
    return sorted(range(len(values)), key=lambda i: (len(values[i]), values[i]))


@settings(max_examples=300)
@given(distinct_values)
def test_sort_order_matches_python_sort(values: list[bytes]) -> None:
    assert sort_order(values).tolist() == _reference(values)
    assert sort_order(values, max_array_bytes=0).tolist() == _reference(values)  # the fallback


def test_sort_dictionaries_keeps_each_rows_values() -> None:
    rows = make_rows(300)
    rows.dicts = {c: v[::-1] for c, v in rows.dicts.items()}  # out of order
    out = sort_dictionaries(rows)
    assert all(v == sorted(v, key=lambda x: (len(x), x)) for v in out.dicts.values())
    assert out.dicts != rows.dicts
    same_rows(out, rows)
