"""TCP reassembly and framing: order, retransmission, overlap, gaps, bounded buffers, HTTP."""

from __future__ import annotations

import gzip

import pytest

from detector import reassembly
from detector.reassembly import Framer, Reassembler


def joined(chunks):
    return b"".join(c for c in chunks if c is not None)


def test_in_order_segments_are_delivered_as_they_come():
    r = Reassembler()
    r.syn(99)
    assert r.push(100, b"abc") == [b"abc"]
    assert r.push(103, b"def") == [b"def"]


def test_retransmission_is_delivered_once():
    r = Reassembler()
    r.syn(0)
    out = r.push(1, b"submit\n") + r.push(1, b"submit\n") + r.push(1, b"submit\n")
    assert joined(out) == b"submit\n"


def test_overlapping_retransmission_delivers_only_new_bytes():
    r = Reassembler()
    r.syn(0)
    out = r.push(1, b"abcd") + r.push(3, b"cdefg")
    assert joined(out) == b"abcdefg"


def test_out_of_order_segments_wait_for_the_hole():
    r = Reassembler()
    r.syn(0)
    assert r.push(5, b"efg") == []
    assert joined(r.push(1, b"abcd")) == b"abcdefg"


def test_sequence_wraparound():
    r = Reassembler()
    r.syn(0xFFFFFFFD)
    out = r.push(0xFFFFFFFE, b"ab") + r.push(0, b"cd")
    assert joined(out) == b"abcd"


def test_unfillable_hole_becomes_a_gap_marker_at_flush():
    r = Reassembler()
    r.syn(0)
    r.push(1, b"ab")
    assert r.push(10, b"xyz") == []
    out = r.flush()
    assert out == [None, b"xyz"]
    assert r.gaps == 1 and r.gap_bytes == 7


def test_out_of_order_buffer_is_bounded(monkeypatch):
    monkeypatch.setattr(reassembly, "MAX_OOO_BYTES", 100)
    r = Reassembler()
    r.syn(0)
    out = []
    for i in range(10):
        out += r.push(1000 + i * 50, b"x" * 50)
    assert None in out and r.ooo_bytes <= 100


def test_capture_starting_mid_stream_uses_first_segment_seq():
    r = Reassembler()
    assert r.push(5000, b"hello") == [b"hello"]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_lines_split_and_joined_across_segments(ending):
    f = Framer()
    frames = f.feed(b'{"id":1}' + ending + b'{"id":') + f.feed(b"2}" + ending + b'{"id":3}' + ending)
    assert [fr[1].strip() for fr in frames] == [b'{"id":1}', b'{"id":2}', b'{"id":3}']


def test_overlong_line_is_dropped_with_a_warning_and_framing_resumes(monkeypatch):
    monkeypatch.setattr(reassembly, "MAX_LINE", 1000)
    f = Framer()
    frames = []
    for _ in range(50):
        frames += f.feed(b"A" * 500)
    assert frames == [] and len(f.buf) <= 1000
    frames = f.feed(b"tail\n{\"id\":9}\n")
    assert frames == [("line", b'{"id":9}')]
    assert len(f.warnings) == 1 and "longer than 1000 bytes" in f.warnings[0]


def test_gap_discards_the_partial_line():
    f = Framer()
    assert f.feed(b'{"id":1,"met') == []
    f.gap()
    assert f.feed(b'hod":"x"}\n{"id":2}\n') == [("line", b'hod":"x"}'), ("line", b'{"id":2}')]


def whole(frames):
    """The complete HTTP messages among frames (not the early "http-head" announcements)."""
    return [fr for fr in frames if fr[0] == "http"]


def test_http_request_with_body_in_next_segment():
    f = Framer()
    head = b"POST / HTTP/1.1\r\nHost: us1.bitminter.com:3333\r\nContent-Length: 16\r\n\r\n"
    announced = f.feed(head)
    assert [(k, h.start, prefix) for k, h, prefix in announced] == [("http-head", "POST / HTTP/1.1", b"")]
    frames = f.feed(b'{"method":"x"}\r\n')
    assert len(frames) == 1
    kind, h, body = frames[0]
    assert kind == "http" and h.is_request and h.headers["host"] == "us1.bitminter.com:3333"
    assert body == b'{"method":"x"}\r\n'


def test_http_chunked_gzip_response():
    body = gzip.compress(b'{"result":true,"id":1}')
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    f = Framer()
    frames = whole(f.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
                          b"X-Stratum: stratum+tcp://pool.example:3333\r\n\r\n" + chunked))
    assert len(frames) == 1
    assert frames[0][2] == b'{"result":true,"id":1}'
    assert frames[0][1].headers["x-stratum"] == "stratum+tcp://pool.example:3333"


def test_http_response_until_close():
    f = Framer()
    assert [fr[0] for fr in f.feed(b"HTTP/1.0 200 OK\r\n\r\n{\"result\":")] == ["http-head"]
    assert f.feed(b"1}") == []
    frames = f.close()
    assert frames[0][2] == b'{"result":1}'


def test_pipelined_http_requests():
    f = Framer()
    req = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
    frames = f.feed(req * 3)
    assert [fr[0] for fr in frames] == ["http-head", "http"] * 3


def test_http_head_is_announced_with_the_first_body_bytes():
    f = Framer()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 9000\r\n\r\n"
    assert f.feed(head) == []  # no body byte yet: the announcement waits for them
    (frame,) = f.feed(b"\x7fELF\x02\x01\x01" + b"\x00" * 100)
    assert frame[0] == "http-head" and frame[2].startswith(b"\x7fELF") and len(frame[2]) == 64
