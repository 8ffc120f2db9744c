"""Parser tests: Go %q unquoting, file format, unknown keys, lists, bad input."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import (
    ACTIVE_ONE,
    ACTIVE_TWO,
    SPAN_ID_1,
    SPAN_ID_2,
    TRACE_ID_1,
    TRACE_ID_2,
    format_annotations,
    go_quote,
    write_annotations,
)
from faultline_middleware import (
    INACTIVE,
    AnnotationParseError,
    Experiment,
    parse_annotations,
    read_annotations,
    unquote_go,
)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (r'""', ""),
        (r'"plain text"', "plain text"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"a\nb\tc\rd"', "a\nb\tc\rd"),
        (r'"\a\b\f\v"', "\a\b\f\v"),
        (r'"\x41\x7f"', "A\x7f"),
        (r'"\xc3\xa9"', "é"),  # \x escapes are bytes: two of them spell one UTF-8 char
        (r'"\303\251"', "é"),  # octal byte escapes
        (r'"\u00e9\u2028"', "é\u2028"),
        (r'"\U0001f600"', "\U0001f600"),
        (r'"\xff"', "\ufffd"),  # invalid UTF-8 byte, as Go's %q keeps it
        ('"déjà vu ✓"', "déjà vu ✓"),  # printable non-ASCII is written as is
        (r'"k=v, a=b"', "k=v, a=b"),
    ],
)
def test_unquote_go(literal: str, expected: str) -> None:
    assert unquote_go(literal) == expected
    assert unquote_go(literal.encode("utf-8")) == expected


@pytest.mark.parametrize(
    "literal",
    [
        "unquoted",
        '"unterminated',
        '"trailing" junk',
        r'"bad \q escape"',
        r'"short \u12"',
        r'"short \x4"',
        r'"\U00110000"',  # beyond Unicode
        r'"\ud800"',  # surrogate half
        r'"\400"',  # octal > 255
        r'"\'"',  # \' is only valid in Go single quotes
        '"inner " quote"',
        '"trailing backslash\\"',
        "`raw`",
    ],
)
def test_unquote_go_rejects(literal: str) -> None:
    with pytest.raises(AnnotationParseError):
        unquote_go(literal)


def test_round_trip_with_go_quoting() -> None:
    rng = random.Random(1234)
    alphabet = 'abc XYZ09=,"\\\n\t\r\x00\x07\x1b\x7fé€\u2028\u00a0😀\U0010fffd'
    for _ in range(500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        assert unquote_go(go_quote(value)) == value


def test_parse_agent_file() -> None:
    text = format_annotations(ACTIVE_ONE)
    assert text.splitlines()[0] == 'chaos.experiment/active="true"'
    assert parse_annotations(text) == ACTIVE_ONE


def test_parse_tolerates_blank_lines_crlf_and_duplicates() -> None:
    data = b'\na="1"\r\n\n  \nb="x\\"y"\na="2"\n'
    assert parse_annotations(data) == {"a": "2", "b": 'x"y'}


def test_parse_downward_api_file_with_unrelated_keys(annotations_path: Path) -> None:
    last_applied = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}\n'
    annotations = {
        "kubernetes.io/config.seen": "2026-11-22T04:59:00.123456789Z",
        "kubectl.kubernetes.io/last-applied-configuration": last_applied,
        "prometheus.io/scrape": "true",
        **ACTIVE_ONE,
    }
    write_annotations(annotations_path, annotations)
    raw = annotations_path.read_text()
    assert r'{\"apiVersion\":\"v1\"' in raw and raw.count("\n") == len(annotations)
    parsed = read_annotations(annotations_path)
    assert parsed == annotations
    experiment = Experiment.from_annotations(parsed)
    assert experiment.active and experiment.name == "payment-latency"


@pytest.mark.parametrize(
    "data",
    [
        b"no equals sign\n",
        b'="empty key"\n',
        b'key=unquoted\n',
        b'chaos.experiment/active="true"\nchaos.experiment/name="payment-lat',  # torn mid-value
        b'chaos.experiment/name="a"junk\n',
        b' key="leading space in key"\n',
    ],
)
def test_parse_rejects_malformed(data: bytes) -> None:
    with pytest.raises(AnnotationParseError) as info:
        parse_annotations(data)
    assert info.value.line is not None


def test_parse_error_reports_line_number() -> None:
    with pytest.raises(AnnotationParseError, match="line 2"):
        parse_annotations('a="1"\nb="2\n')


def test_read_missing_file(tmp_path: Path) -> None:
    assert read_annotations(tmp_path / "absent") == {}
    assert read_annotations(tmp_path / "no-dir" / "annotations") == {}
    with pytest.raises(FileNotFoundError):
        read_annotations(tmp_path / "absent", missing_ok=False)


def test_experiment_single() -> None:
    experiment = Experiment.from_annotations(ACTIVE_ONE)
    assert experiment.active
    assert experiment.fault == "delay=500ms jitter=100ms correlation=50% loss=1%"
    assert experiment.started_at == "2026-11-22T05:00:00Z"
    assert experiment.ends_at == "2026-11-22T05:05:00Z"
    assert experiment.interfaces == ("eth0",)
    assert dict(experiment.attributes) == {
        "chaos.experiment.active": True,
        "chaos.experiment.name": "payment-latency",
        "chaos.experiment.id": "0b3f2c1e-6d4a-4f7e-9a65-3c2b1d0e9f87",
    }
    (link,) = experiment.links
    assert link.context.trace_id == int(TRACE_ID_1, 16)
    assert link.context.span_id == int(SPAN_ID_1, 16)
    assert link.context.is_remote and link.context.trace_flags.sampled
    assert dict(link.attributes) == {
        "chaos.experiment.name": "payment-latency",
        "chaos.experiment.id": "0b3f2c1e-6d4a-4f7e-9a65-3c2b1d0e9f87",
    }


def test_experiment_comma_lists() -> None:
    experiment = Experiment.from_annotations(ACTIVE_TWO)
    assert experiment.names == ("payment-latency", "db-loss")
    assert experiment.ids == ("id-one", "id-two")
    assert experiment.interfaces == ("eth0", "eth1")
    assert experiment.ends_at == ""  # open-ended: key omitted
    assert experiment.attributes["chaos.experiment.name"] == "payment-latency,db-loss"
    assert experiment.attributes["chaos.experiment.id"] == "id-one,id-two"
    assert [(link.context.trace_id, link.context.span_id) for link in experiment.links] == [
        (int(TRACE_ID_1, 16), int(SPAN_ID_1, 16)),
        (int(TRACE_ID_2, 16), int(SPAN_ID_2, 16)),
    ]
    assert [dict(link.attributes) for link in experiment.links] == [
        {"chaos.experiment.name": "payment-latency", "chaos.experiment.id": "id-one"},
        {"chaos.experiment.name": "db-loss", "chaos.experiment.id": "id-two"},
    ]
    assert not experiment.links[1].context.trace_flags.sampled


def test_experiment_skips_invalid_traceparents() -> None:
    bad = [
        "garbage",
        f"ff-{TRACE_ID_1}-{SPAN_ID_1}-01",  # forbidden version
        f"00-{'0' * 32}-{SPAN_ID_1}-01",  # zero trace id
        f"00-{TRACE_ID_1}-{'0' * 16}-01",  # zero span id
        f"00-{TRACE_ID_1.upper()}-{SPAN_ID_1}-01",  # upper case hex
        f"00-{TRACE_ID_1}-{SPAN_ID_1}-01-extra",  # version 00 has exactly 4 fields
    ]
    good = f"00-{TRACE_ID_2}-{SPAN_ID_2}-01"
    annotations = dict(ACTIVE_ONE, **{"chaos.experiment/traceparent": ",".join(bad + [good])})
    experiment = Experiment.from_annotations(annotations)
    assert [link.context.trace_id for link in experiment.links] == [int(TRACE_ID_2, 16)]
    # A future version may carry extra fields.
    future = dict(ACTIVE_ONE, **{"chaos.experiment/traceparent": f"01-{TRACE_ID_1}-{SPAN_ID_1}-01-zz"})
    assert len(Experiment.from_annotations(future).links) == 1


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {"chaos.experiment/active": "false"},
        {"chaos.experiment/active": "yes"},
        {"unrelated": "true", "chaos.experiment/name": "leftover"},
    ],
)
def test_experiment_inactive(annotations: dict) -> None:
    experiment = Experiment.from_annotations(annotations)
    assert experiment is INACTIVE
    assert not experiment.active and not experiment.attributes and not experiment.links


def test_experiment_active_without_details() -> None:
    experiment = Experiment.from_annotations({"chaos.experiment/active": "TRUE"})
    assert experiment.active
    assert dict(experiment.attributes) == {"chaos.experiment.active": True}
    assert experiment.links == ()
