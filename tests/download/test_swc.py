"""The streaming SWC sanity check (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuromorpho_api._swc import (
    MAX_COMMENT_BYTES,
    MAX_DATA_LINE,
    SWCError,
    SWCValidator,
    check_swc_bytes,
    check_swc_file,
)
from neuromorpho_api.testing import SyntheticDatabase

REAL_LOOKING = (
    b"# Original file cnic_001.swc edited by Duncan Donohue using StdSwc version 1.21.\n"
    b"# CONTRIBUTOR Wearne_Hof\n"
    b"#\n"
    b"1 1 0.0 0.0 0.0 9.11 -1\n"
    b"2 1 0.0 -9.11 0.0 9.11 1\n"
    b"3 1 0.0 9.11 0.0 9.11 1\n"
    b"4 3 -1.25 3.5 0.2 0.75 1\n"
)


def feed_in_chunks(data: bytes, size: int) -> int:
    validator = SWCValidator()
    for start in range(0, len(data), size):
        validator.feed(data[start : start + size])
    return validator.finish()


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (REAL_LOOKING, 4),
        # latin-1 and cp1252 bytes in comments, a UTF-8 BOM, CRLF
        (b"# CONTRIBUTOR M\xfcller & \x93Smith\x94\n1 1 0 0 0 1 -1\n", 1),
        ("\ufeff# unit (µm)\r\n1 1 0 0 0 1 -1\r\n".encode(), 1),
        # leading and repeated whitespace, tabs, blank lines, no final newline
        (b"\n\n   1    1   0.5 0.5\t0.5   1 -1   \n\t2\t3\t1\t1\t1\t0.5\t1", 2),
        # indented comment, trailing columns, exponent and signs, integral floats as ids
        (b"   # indented\n1 1 1e-3 -2.5 +3 .5 -1 extra columns\n2.0 3 0 0 0 1 1.0\n", 2),
        # old Mac line ends
        (b"# header\r1 1 0 0 0 1 -1\r2 3 0 0 1 1 1\r", 2),
        # a huge comment line (not a data line, so no length limit)
        (b"#" + b"x" * (10 * MAX_DATA_LINE) + b"\n1 1 0 0 0 1 -1\n", 1),
    ],
)
def test_valid_bodies_pass_in_any_chunking(body: bytes, lines: int) -> None:
    assert check_swc_bytes(body) == lines
    for size in (1, 2, 3, 7, 64):
        assert feed_in_chunks(body, size) == lines


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"\xef\xbb\xbf", "no data lines"),
        (b"  \n\t\n", "no data lines"),
        (b"# only a header\n#\n", "no data lines"),
        (b"1 1 0 0 0 1\n", "line 1: expected at least 7 columns, got 6"),
        (b"1 1 0 0 0 1 -1\n2 3 0 0\n", "line 2: expected at least 7 columns, got 4"),
        (b"1 1 0,5 0 0 1 -1\n", "line 1: the first 7 columns must be numbers"),
        (b"soma 1 x y z r -1\n", "the first 7 columns must be numbers"),
        (b"1 1 nan 0 0 1 -1\n", "the first 7 columns must be numbers"),
        (b"1.5 1 0 0 0 1 -1\n", "the first 7 columns must be numbers"),
        (b"0 1 0 0 0 1 -1\n", "node id must be a positive integer, got 0"),
        (b"1 1 0 0 0 1 -1\n2 1 0 0 0 1 0\n", "line 2: parent must be -1 or a positive id, got 0"),
        (b"1 1 0 0 0 1 -7\n", "parent must be -1 or a positive id, got -7"),
        (b"# ok\r\n1 1 0 0 0 1 -1\r\n<<<<<<< HEAD\r\n", "line 3: expected at least 7 columns"),
        (b"1 1 0 0 0 1 -1\n41 3 12.5", "line 2: expected at least 7 columns, got 3"),
        (b"1 " * MAX_DATA_LINE, "line too long"),
        (b"1 1 0 0 0 1 -1" + b" " * MAX_DATA_LINE + b"\n", "line too long"),
    ],
)
def test_invalid_bodies_fail_with_the_line(body: bytes, message: str) -> None:
    for size in (len(body) or 1, 1, 5):
        with pytest.raises(SWCError, match=message.replace("(", r"\(")) as info:
            feed_in_chunks(body, size)
        assert not info.value.html


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head></html>\n",
        b"\n\n  <html><body>Proxy error</body></html>",
        b"<?xml version='1.0'?><error/>",
        b"<" + b"a" * (MAX_DATA_LINE * 2),  # one long line of minified HTML
    ],
)
def test_html_is_recognised_as_html(body: bytes) -> None:
    with pytest.raises(SWCError, match="HTML page") as info:
        check_swc_bytes(body)
    assert info.value.html


def test_html_after_data_is_just_a_bad_line() -> None:
    with pytest.raises(SWCError) as info:
        check_swc_bytes(b"1 1 0 0 0 1 -1\n<html>\n")
    assert not info.value.html
    assert info.value.line == 2


def test_feed_stops_at_the_first_bad_complete_line() -> None:
    validator = SWCValidator()
    with pytest.raises(SWCError, match="HTML page"):
        validator.feed(b"<html>\n")  # no need to wait for the rest of the body


def test_memory_stays_bounded_without_newlines() -> None:
    validator = SWCValidator()
    validator.feed(b"# a comment that never ends")
    for _ in range(15):
        validator.feed(b"x" * 65536)
    assert len(validator._pending) == 0
    validator = SWCValidator()
    for _ in range(4):
        validator.feed(b"1" * 1024)
    with pytest.raises(SWCError, match="too long"):
        validator.feed(b"1")


def test_feed_after_finish_is_an_error() -> None:
    validator = SWCValidator()
    validator.feed(b"1 1 0 0 0 1 -1\n")
    assert validator.finish() == 1
    assert validator.finish() == 1
    with pytest.raises(RuntimeError):
        validator.feed(b"2 1 0 0 0 1 1\n")


def test_check_swc_file(tmp_path: Path) -> None:
    path = tmp_path / "a.CNG.swc"
    path.write_bytes(REAL_LOOKING * 1000)
    assert check_swc_file(path, chunk_size=1000) == 4000
    path.write_bytes(REAL_LOOKING[:-10])  # cut mid-line: the last line has 4 columns
    with pytest.raises(SWCError, match="line 7"):
        check_swc_file(str(path))


def test_every_emulator_file_is_judged_like_the_ground_truth() -> None:
    database = SyntheticDatabase(400, seed=3)
    quirky = set(database.encoding_quirks)
    sample = database.broken_file_ids | quirky | {r["neuron_id"] for r in database.neurons[:25]}
    checked = set()
    for record in database.neurons:
        if record["neuron_id"] not in sample:
            continue
        body = database.swc(record)
        if body is None:
            continue
        neuron_id = record["neuron_id"]
        if neuron_id in database.broken_file_ids:
            with pytest.raises(SWCError):
                feed_in_chunks(body, 65536)
        else:
            assert feed_in_chunks(body, 65536) > 0
            checked.add(neuron_id)
    assert quirky <= checked  # latin-1 headers, BOM + CRLF all pass


@settings(max_examples=200, deadline=None)
@given(
    nodes=st.lists(
        st.tuples(
            st.integers(1, 5),
            st.floats(-1e4, 1e4, allow_nan=False),
            st.floats(-1e4, 1e4, allow_nan=False),
            st.floats(-1e4, 1e4, allow_nan=False),
            st.floats(0, 100, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    comments=st.lists(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
    ),
    separator=st.sampled_from([b" ", b"  ", b"\t", b" \t "]),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    chunk=st.integers(1, 100),
)
def test_generated_valid_files_pass(
    nodes: list[tuple[int, float, float, float, float]],
    comments: list[bytes],
    separator: bytes,
    eol: bytes,
    chunk: int,
) -> None:
    lines = [b"#" + comment for comment in comments]
    for index, (kind, x, y, z, radius) in enumerate(nodes, start=1):
        parent = b"-1" if index == 1 else str(index - 1).encode()
        fields = [str(index).encode(), str(kind).encode()]
        fields += [repr(v).encode() for v in (x, y, z, radius)] + [parent]
        lines.append(separator.join(fields))
    body = eol.join(lines) + eol
    assert feed_in_chunks(body, chunk) == len(nodes)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), chunk=st.integers(1, 50))
def test_arbitrary_bytes_never_crash_and_chunking_never_matters(body: bytes, chunk: int) -> None:
    def outcome(size: int) -> object:
        try:
            return feed_in_chunks(body, size)
        except SWCError as error:
            return ("error", error.line, error.html)

    assert outcome(chunk) == outcome(len(body) or 1)


@pytest.mark.parametrize(
    "filler",
    [b"# provenance line that goes on and on\n", b"\n", b"   \r\n", b"#"],
    ids=["comment-lines", "blank-lines", "blank-crlf", "one-endless-comment"],
)
def test_the_comment_and_blank_section_is_bounded(filler: bytes) -> None:
    # One data line and then an endless body of comments passed before: a disk filler.
    piece = filler * (60_000 // len(filler)) if filler != b"#" else b"#" + b"x" * 60_000

    def endless() -> None:
        validator = SWCValidator()
        validator.feed(b"1 1 0 0 0 1 -1\n")
        for _ in range(2 * MAX_COMMENT_BYTES // 60_000 + 2):
            validator.feed(piece)

    with pytest.raises(SWCError, match="comment and blank lines"):
        endless()
    # A real header of a few kB and blank lines here and there are fine.
    check_swc_bytes(b"# header\n" * 2000 + b"\n" * 1000 + b"1 1 0 0 0 1 -1\n")
