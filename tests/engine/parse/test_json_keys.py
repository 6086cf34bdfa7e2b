"""engine/parse/json_keys.py with json_rows: which JSON keys fill a row's columns, by priority:
a request's names, the configured ones, the built-in ones, then other shippers' names (Fluent
Bit, VictoriaLogs, ECS), dotted names reaching into nested objects; and the names' blob."""

from __future__ import annotations

import numpy as np
import pytest

from engine.json_field_names import FieldNamesError, check_names
from engine.parse.json_keys import DEFAULT_ROLES, KeyRoles, decode_overrides, encode_overrides
from engine.parse.json_rows import decode_json_rows
from engine.parse.batch_parser import BatchParser
from engine.config import Parse
from engine.ipc.raw_batch import raw_batch_of
from native_kernels.syslog import NO_VALUE, TS_NONE, TS_UTC

RECV = 1_700_000_000 * 10**9


def decode(rows: list[bytes], roles: KeyRoles = DEFAULT_ROLES):
    lens = np.array([len(r) for r in rows], np.int64)
    ends = np.cumsum(lens)
    return decode_json_rows(b"".join(rows), ends - lens, ends, RECV, roles)


def fields_of(res, row: int) -> dict:
    return {k: v for r, k, v in zip(res.field_row.tolist(), res.field_key, res.field_value) if r == row}


def test_fluent_bit_and_victorialogs_names():
    res = decode(
        [
            b'{"date":1700000001.5,"log":"fluent"}',
            b'{"_time":"2023-11-14T22:13:21Z","_msg":"victoria"}',
            b'{"_time":"1700000002","_msg":"epoch string"}',
        ]
    )
    assert res.message == [b"fluent", b"victoria", b"epoch string"]
    assert res.time_ns.tolist() == [1_700_000_001_500_000_000, 1_700_000_001 * 10**9, 1_700_000_002 * 10**9]
    assert res.ts_kind.tolist() == [TS_UTC] * 3
    assert res.field_row.tolist() == []


def test_ecs_names_reach_into_nested_objects_and_leave_no_empty_object():
    res = decode(
        [
            b'{"@timestamp":"2023-11-14T22:13:20Z","log":{"level":"warn","file":{"path":"/a"}},'
            b'"message":"m","host":{"name":"web-1"},"service":{"name":"shop","version":"2"}}'
        ]
    )
    assert (res.message[0], res.host[0], res.app[0], int(res.severity[0])) == (b"m", b"web-1", b"shop", 4)
    assert fields_of(res, 0) == {b"log.file.path": b"/a", b"service.version": b"2"}


def test_other_shippers_names_come_after_the_built_in_ones():
    # `log` and `date` are someone's own fields here: the built-in names win, they stay fields.
    res = decode([b'{"log":"kept as field","date":"2023-01-01","msg":"real","time":1700000000}'])
    assert res.message == [b"real"] and res.time_ns[0] == RECV
    assert fields_of(res, 0) == {b"log": b"kept as field", b"date": b"2023-01-01"}
    # Filebeat's `log` object is never the message, even with no other message.
    res = decode([b'{"log":{"offset":1}}'])
    assert res.message == [None] and fields_of(res, 0) == {b"log.offset": b"1"}


def test_requested_names_beat_configured_ones_which_beat_built_in_ones():
    roles = KeyRoles.build(
        configured={"msg": ["body"], "host": ["node"]},
        requested={"msg": ["text", "alt"], "severity": ["lvl"], "time": ["at.when"]},
    )
    res = decode(
        [
            b'{"message":"builtin","body":"configured","text":"requested","node":"n","lvl":"error",'
            b'"at":{"when":1700000003}}',
            b'{"message":"builtin","body":"configured","alt":"second choice"}',
            b'{"message":"builtin","body":"configured"}',
            b'{"message":"builtin","text":{"not":"a string"}}',
        ],
        roles,
    )
    assert res.message == [b"requested", b"second choice", b"configured", b'{"not":"a string"}']
    assert fields_of(res, 0) == {b"message": b"builtin", b"body": b"configured"}
    assert res.host[0] == b"n" and int(res.severity[0]) == 3 and res.time_ns[0] == 1_700_000_003 * 10**9
    assert fields_of(res, 3) == {b"message": b"builtin"}


def test_a_dotted_name_is_also_a_literal_key():
    roles = KeyRoles.build(requested={"host": ["host.name"]})
    res = decode([b'{"host.name":"literal"}', b'{"host":{"name":"nested"}}'], roles)
    assert res.host == [b"literal", b"nested"]


def test_unusable_chosen_values_fall_back_and_stay_fields():
    roles = KeyRoles.build(requested={"severity": ["lvl"], "time": ["ts"]})
    res = decode([b'{"lvl":"loud","level":"info","ts":"not a time","msg":"x"}'], roles)
    assert int(res.severity[0]) == 6  # `lvl` cannot be a severity: the built-in name fills it
    assert res.ts_kind[0] == TS_NONE and res.time_ns[0] == RECV
    assert fields_of(res, 0) == {b"lvl": b"loud", b"ts": b"not a time"}
    res = decode([b'{"level":42}'], roles)
    assert res.severity[0] == NO_VALUE and fields_of(res, 0) == {b"level": b"42"}


def test_overrides_blob_round_trip_and_damage():
    blob = encode_overrides({"msg": ["a", "b.c"], "host": [], "time": ["t"]})
    assert decode_overrides(blob) == {"msg": ["a", "b.c"], "time": ["t"]}
    assert encode_overrides({"msg": []}) == b""
    for bad in (b"{", b'{"nope":["a"]}', b'{"msg":[""]}', b'{"msg":"a"}'):
        with pytest.raises(FieldNamesError):
            decode_overrides(bad)


@pytest.mark.parametrize("names", [[""], [".a"], ["a."], ["a..b"], ["x" * 257], ["a"] * 17])
def test_names_that_cannot_be_field_names(names):
    with pytest.raises(FieldNamesError, match="msg_field"):
        check_names("msg_field", names)


def test_config_keys_are_checked_and_reach_the_parser():
    with pytest.raises(ValueError, match="json_host_fields"):
        Parse(json_host_fields=("a..b",))
    parser = BatchParser(Parse(json_msg_fields=("text",)))
    batch = parser.parse(raw_batch_of([b'{"text":"configured","message":"other"}'], RECV))
    request = parser.parse(
        raw_batch_of([b'{"text":"configured","message":"other","m2":"asked"}'], RECV, field_names=b'{"msg":["m2"]}')
    )
    damaged = parser.parse(raw_batch_of([b'{"text":"configured"}'], RECV, field_names=b"{"))

    def message(b) -> bytes:
        return b.msg_data[b.msg_off[0] : b.msg_off[1]].tobytes()

    assert (message(batch), message(request), message(damaged)) == (b"configured", b"asked", b"configured")
