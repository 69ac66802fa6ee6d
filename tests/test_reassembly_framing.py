"""Framing edge cases, frame by frame: HTTP head parsing (line boundaries, obs-fold, whitespace,
repeats, limits), Content-Length and chunked bodies over any segmentation, the announcement owed
to a head that came alone, gaps, pipelining, JSON lines, bounded buffers; and, over every TCP
stream of the shared corpus, the same messages whatever the segmentation."""

from __future__ import annotations

import collections
import gzip
import random
from pathlib import Path

import pytest

from detector import reassembly
from detector.capture import open_capture
from detector.reassembly import Framer, HttpHead, Reassembler, parse_head

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def run(segments: list[bytes | None], close: bool = True) -> tuple[list[tuple], list[str], Framer]:
    """Frames and warnings of a stream fed segment by segment (None: a gap), then closed."""
    f = Framer()
    frames: list[tuple] = []
    for seg in segments:
        frames += f.gap() if seg is None else f.feed(seg)
    if close:
        frames += f.close()
    return frames, f.warnings, f


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# -- HTTP heads ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, start, headers",
    [
        pytest.param(b"POST / HTTP/1.1\r\nHost: pool:3333\r\nContent-Length: 5", "POST / HTTP/1.1",
                     {"host": "pool:3333", "content-length": "5"}, id="plain"),
        pytest.param(b"GET / HTTP/1.1\nHost: h\nAccept: */*", "GET / HTTP/1.1", {"host": "h", "accept": "*/*"},
                     id="bare-lf"),
        pytest.param(b"HTTP/1.1 200 OK\rServer: s\r\r\nX: 1", "HTTP/1.1 200 OK", {"server": "s", "x": "1"},
                     id="bare-cr"),
        pytest.param(b"POST / HTTP/1.1\r\nX-A: a\r\n continued\r\n\tX-B: b", "POST / HTTP/1.1",
                     {"x-a": "a", "x-b": "b"}, id="obs-fold-line-is-its-own-line"),
        pytest.param(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nA: 3", "GET / HTTP/1.1", {"a": "3", "b": "2"},
                     id="repeat-keeps-last"),
        pytest.param(b"GET / HTTP/1.1\r\n\tContent-LENGTH : 5 \r\nX:y", "GET / HTTP/1.1",
                     {"content-length": "5", "x": "y"}, id="whitespace-and-case"),
        pytest.param(b"GET / HTTP/1.1\x0bA: 1\x0cB: 2\x1cC: 3\x1dD: 4\x1eE: 5\x85F: 6", "GET / HTTP/1.1",
                     {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}, id="rare-line-boundaries"),
        pytest.param(b"GET / HTTP/1.1\r\n\x1fA\xa0: \xa0v w\x1f", "GET / HTTP/1.1", {"a": "v w"},
                     id="latin1-whitespace-stripped"),
        pytest.param(b"GET / HTTP/1.1\r\n\xc9T\xc9: \xc9t\xe9", "GET / HTTP/1.1", {"\xe9t\xe9": "\xc9t\xe9"},
                     id="latin1-name-lowered"),
        pytest.param(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n: v\r\nk:", "GET / HTTP/1.1", {"": "v", "k": ""},
                     id="colonless-and-empty"),
        pytest.param(b"GET / HTTP/1.1\r\nX: a:b: c", "GET / HTTP/1.1", {"x": "a:b: c"}, id="first-colon-splits"),
        pytest.param(b"", "", {}, id="empty"),
        pytest.param(b"\nHost: h", "", {"host": "h"}, id="empty-start-line"),
    ],
)
def test_head_fields(raw, start, headers):
    head = parse_head(raw)
    assert head.start == start
    assert list(head.headers.items()) == list(headers.items())
    assert head.is_request == (not start.startswith("HTTP/"))


def test_head_name_value_and_start_line_are_cut():
    raw = b"GET /" + b"p" * 2000 + b" HTTP/1.1\r\n" + b"N" * 100 + b": " + b"v" * 2000 + b"\r\nN" + b"n" * 63 + b"x: 2"
    head = parse_head(raw)
    assert head.start == "GET /" + "p" * 1019
    assert head.headers == {"n" * 64: "2"}  # both names cut to the same 64 characters: the last value wins


@pytest.mark.parametrize("count, kept", [(198, 198), (199, 199), (200, 199), (260, 199)])
def test_head_reads_199_header_lines(count, kept):
    raw = b"\r\n".join([b"GET / HTTP/1.1"] + [b"X-%d: %d" % (i, i) for i in range(count)])
    assert list(parse_head(raw).headers) == [f"x-{i}" for i in range(kept)]


def test_each_head_gets_its_own_headers():
    raw = b"POST / HTTP/1.1\r\nHost: pool\r\nContent-Length: 2"
    first, second = parse_head(raw), parse_head(raw)
    assert first == second and first.headers is not second.headers
    first.headers["host"] = "changed"
    assert parse_head(raw).headers == {"host": "pool", "content-length": "2"}


def test_header_line_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(reassembly, "MEMO_LINES", 8)
    monkeypatch.setattr(reassembly, "_FIELDS", {})
    for i in range(50):
        head = parse_head(b"GET / HTTP/1.1\r\nX-Seq: %d\r\n" % i + b"Y: " + b"v" * 300)
        assert head.headers == {"x-seq": str(i), "y": "v" * 300}
        assert len(reassembly._FIELDS) <= 8
    assert all(len(line) <= reassembly.MEMO_LINE_LEN for line in reassembly._FIELDS)


# -- HTTP messages --------------------------------------------------------------------------------
REQ_HEAD = b"POST / HTTP/1.1\r\nHost: pool:8332\r\nContent-Length: 16\r\n\r\n"
BODY = b'{"method":"x"}\r\n'
REQ = HttpHead("POST / HTTP/1.1", {"host": "pool:8332", "content-length": "16"})


@pytest.mark.parametrize(
    "segments, frames",
    [
        pytest.param([REQ_HEAD + BODY], [("http-head", REQ, BODY), ("http", REQ, BODY)], id="whole-in-one-segment"),
        pytest.param([REQ_HEAD, BODY], [("http-head", REQ, b""), ("http", REQ, BODY)], id="body-in-next-segment"),
        pytest.param(bytewise(REQ_HEAD + BODY), [("http-head", REQ, b""), ("http", REQ, BODY)], id="byte-by-byte"),
        pytest.param([REQ_HEAD + BODY[:3], BODY[3:9], BODY[9:]], [("http-head", REQ, BODY[:3]), ("http", REQ, BODY)],
                     id="body-over-three-segments"),
        pytest.param([(REQ_HEAD + BODY) * 3 + REQ_HEAD[:20]],
                     [("http-head", REQ, (BODY + REQ_HEAD)[:64]), ("http", REQ, BODY)] * 2
                     + [("http-head", REQ, BODY + REQ_HEAD[:20]), ("http", REQ, BODY)], id="pipelined-then-partial"),
    ],
)
def test_request_with_content_length(segments, frames):
    got, warnings, f = run(segments, close=False)
    assert got == frames and warnings == []
    assert all(type(fr[2]) is bytes for fr in got)


def test_pipelined_leftover_waits_for_the_rest_of_its_head():
    _, _, f = run([(REQ_HEAD + BODY) * 2 + REQ_HEAD[:20]], close=False)
    assert (f.mode, f.buf, f.head) == ("http-head", REQ_HEAD[:20], None)
    assert f.feed(REQ_HEAD[20:] + BODY) == [("http-head", REQ, BODY), ("http", REQ, BODY)]
    assert (f.mode, f.buf, f.head, f.need) == (None, b"", None, 0)


@pytest.mark.parametrize(
    "segments, frames",
    [
        pytest.param([b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nabcdXY"],
                     [("http-head", HttpHead("POST / HTTP/1.1", {"content-length": "4"}), b"abcdXY"),
                      ("http", HttpHead("POST / HTTP/1.1", {"content-length": "4"}), b"abcd"), ("line", b"XY")],
                     id="conflicting-length-last-wins"),
        pytest.param([b"POST / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n{}\n"],
                     [("http-head", HttpHead("POST / HTTP/1.1", {"content-length": "\xb2"}), b"{}\n"),
                      ("http", HttpHead("POST / HTTP/1.1", {"content-length": "\xb2"}), b""), ("line", b"{}")],
                     id="superscript-length-is-no-length"),
        pytest.param([b"HTTP/1.1 200 OK\r\nContent-Length: \xb9\r\n\r\nab", b"c"],
                     [("http-head", HttpHead("HTTP/1.1 200 OK", {"content-length": "\xb9"}), b"ab"),
                      ("http", HttpHead("HTTP/1.1 200 OK", {"content-length": "\xb9"}), b"abc")],
                     id="superscript-length-response-until-close"),
        pytest.param([b"POST / HTTP/1.1\r\nContent-Length: 0005\r\n\r\nhello"],
                     [("http-head", HttpHead("POST / HTTP/1.1", {"content-length": "0005"}), b"hello"),
                      ("http", HttpHead("POST / HTTP/1.1", {"content-length": "0005"}), b"hello")],
                     id="leading-zeros"),
        pytest.param([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
                     [("http-head", HttpHead("HTTP/1.1 200 OK", {"content-length": "0"}), b""),
                      ("http", HttpHead("HTTP/1.1 200 OK", {"content-length": "0"}), b"")],
                     id="empty-response-alone"),
        pytest.param([b"HTTP/1.1 204 No Content\r\n\r\n"],
                     [("http-head", HttpHead("HTTP/1.1 204 No Content", {}), b""),
                      ("http", HttpHead("HTTP/1.1 204 No Content", {}), b"")], id="204"),
        pytest.param([b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody"],
                     [("http-head", HttpHead("HTTP/1.1 304 Not Modified", {"etag": "x"}), b"HTTP/1.1 200 OK\r\n\r\nbody"),
                      ("http", HttpHead("HTTP/1.1 304 Not Modified", {"etag": "x"}), b""),
                      ("http-head", HttpHead("HTTP/1.1 200 OK", {}), b"body"),
                      ("http", HttpHead("HTTP/1.1 200 OK", {}), b"body")], id="304-then-until-close"),
        pytest.param([b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"],
                     [("http-head", HttpHead("GET / HTTP/1.1", {"host": "h"}), b"GET /2 HTTP/1.1\r\n\r\n"),
                      ("http", HttpHead("GET / HTTP/1.1", {"host": "h"}), b""),
                      ("http-head", HttpHead("GET /2 HTTP/1.1", {}), b""), ("http", HttpHead("GET /2 HTTP/1.1", {}), b"")],
                     id="requests-without-body"),
        pytest.param([b"GET / HTTP/1.1\n\nX: 1\r\n\r\n"],
                     [("http-head", HttpHead("GET / HTTP/1.1", {"x": "1"}), b""),
                      ("http", HttpHead("GET / HTTP/1.1", {"x": "1"}), b"")], id="crlf-crlf-preferred-to-earlier-lf-lf"),
        pytest.param([b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"],
                     [("http-head", HttpHead("HTTP/1.1 200 OK", {"content-length": "2"}), b"ok"),
                      ("http", HttpHead("HTTP/1.1 200 OK", {"content-length": "2"}), b"ok")], id="lf-lf-head"),
        pytest.param([b"PO", b"ST / HTTP/1.1\r\n\r\n"],
                     [("http-head", HttpHead("POST / HTTP/1.1", {}), b""), ("http", HttpHead("POST / HTTP/1.1", {}), b"")],
                     id="start-line-split"),
    ],
)
def test_http_messages(segments, frames):
    got, warnings, _ = run(segments)
    assert got == frames and warnings == []


def test_response_head_alone_owes_its_announcement_until_body_bytes_arrive():
    head = HttpHead("HTTP/1.1 200 OK", {"content-length": "5"})
    f = Framer()
    assert f.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") == []
    assert (f.peek, f.mode) == (True, "http-body")
    assert f.feed(b"hel") == [("http-head", head, b"hel")]
    assert f.feed(b"lo") == [("http", head, b"hello")]


def test_announcement_still_owed_after_a_gap_goes_to_the_next_message():
    # kept as it always was: the owed flag survives a gap, so the next message is announced twice
    f = Framer()
    assert f.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") == [] and f.gap() == []
    req = HttpHead("POST / HTTP/1.1", {"content-length": "2"})
    assert f.feed(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}") == [
        ("http-head", req, b"{}"), ("http-head", req, b"{}"), ("http", req, b"{}")]


@pytest.mark.parametrize("max_body, body", [(0, b""), (4, b"0123"), (10, b"0123456789"), (11, b"0123456789")])
@pytest.mark.parametrize("split", [False, True])
def test_body_is_cut_at_max_body(monkeypatch, max_body, body, split):
    monkeypatch.setattr(reassembly, "MAX_BODY", max_body)
    data = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789{}\n"
    got, _, f = run([data[:45], data[45:]] if split else [data])
    assert [fr for fr in got if fr[0] != "http-head"] == [
        ("http", HttpHead("POST / HTTP/1.1", {"content-length": "10"}), body), ("line", b"{}")]


def test_body_over_many_segments_is_kept_without_recopying():
    f = Framer()
    f.feed(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30000\r\n\r\n")
    for _ in range(29):
        assert f.feed(b"x" * 1000) in ([], [("http-head", f.head, b"x" * 64)])
    assert type(f.body) is bytearray and len(f.body) == 29000
    ((kind, _, body),) = f.feed(b"y" * 1000)
    assert kind == "http" and type(body) is bytes and body == b"x" * 29000 + b"y" * 1000


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", "deflate"])
@pytest.mark.parametrize("split", [False, True])
def test_compressed_body(encoding, split):
    z = gzip.compress(b'{"result":1}')
    data = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding.encode(), len(z)) + z
    got, warnings, _ = run([data[:-5], data[-5:]] if split else [data])
    assert got[-1][2] == b'{"result":1}' and warnings == []


def test_undecodable_body_is_empty_with_a_warning():
    data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope"
    got, warnings, _ = run([data])
    assert got[-1][0] == "http" and got[-1][2] == b""
    assert warnings == [f"stream offset {len(data)}: undecodable gzip HTTP body"]


# -- chunked bodies -------------------------------------------------------------------------------
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED = HttpHead("HTTP/1.1 200 OK", {"transfer-encoding": "chunked"})


@pytest.mark.parametrize(
    "chunks, body",
    [
        pytest.param(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world", id="two-chunks"),
        pytest.param(b"5;name=v\r\nhello\r\nA \r\n0123456789\r\n0\r\n\r\n", b"hello0123456789", id="extension-and-space"),
        pytest.param(b"0x5\r\nhello\r\n+1\r\n!\r\n1_0\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n", b"hello!" + b"z" * 16,
                     id="what-int-reads"),
        pytest.param(b"3\r\nabcXY0\r\n\r\n", b"abc", id="crlf-after-data-not-checked"),
    ],
)
@pytest.mark.parametrize("cut", ["whole", "bytewise", "head-alone"])
def test_chunked_body(chunks, body, cut):
    data = CHUNKED_HEAD + chunks
    segments = {"whole": [data], "bytewise": bytewise(data), "head-alone": [CHUNKED_HEAD, chunks]}[cut]
    got, warnings, _ = run(segments)
    assert got[-1] == ("http", CHUNKED, body) and warnings == []
    assert [fr[0] for fr in got] == ["http-head", "http"]


def test_chunked_announcement_skips_the_size_line():
    f = Framer()
    assert f.feed(CHUNKED_HEAD) == []
    assert f.feed(b"5\r\nhello\r\n") == [("http-head", CHUNKED, b"hello\r\n")]


@pytest.mark.parametrize(
    "chunks, buffered",
    [
        pytest.param(b"zz\r\nrest", b"zz\r\nrest", id="not-hex"),
        pytest.param(b"-100\r\nabc", b"-100\r\nabc", id="negative-size"),
        pytest.param(b"-5\r\nabcdef", b"-5\r\nabcdef", id="small-negative-size"),
        pytest.param(b"x" * 1025, b"x" * 1025, id="size-line-too-long"),
    ],
)
def test_malformed_chunk_ends_the_body_with_a_warning(chunks, buffered):
    got, warnings, _ = run([CHUNKED_HEAD + chunks], close=False)
    assert got[:2] == [("http-head", CHUNKED, chunks[:64]), ("http", CHUNKED, b"")]
    assert warnings == [f"stream offset {len(CHUNKED_HEAD)}: malformed HTTP chunk"]
    assert buffered.startswith(b"".join(fr[1] for fr in got[2:]))  # what follows is framed afresh


def test_huge_chunk_is_taken_as_it_comes(monkeypatch):
    monkeypatch.setattr(reassembly, "MAX_BODY", 1000)
    f = Framer()
    f.feed(CHUNKED_HEAD + b"ffffffffff\r\n")
    for _ in range(100):
        assert f.feed(b"d" * 1460) == []
        assert f.buf == b"" and len(f.body) == 1000
    assert f.close() == [] and f.gap() == []


def test_gap_inside_a_chunk_abandons_the_message():
    f = Framer()
    f.feed(CHUNKED_HEAD + b"10\r\nabc")
    assert f.gap() == []
    assert f.feed(b'{"id":1}\n') == [("line", b'{"id":1}')]


# -- gaps, close, lines -----------------------------------------------------------------------------
def test_gap_ends_a_body_delimited_by_close():
    head = HttpHead("HTTP/1.0 200 OK", {})
    got, _, _ = run([b"HTTP/1.0 200 OK\r\n\r\nabc", b"def", None, b"POST "])
    assert got == [("http-head", head, b"abc"), ("http", head, b"abcdef")]


@pytest.mark.parametrize(
    "segments, frames",
    [
        pytest.param([b'{"id":1}\n'], [("line", b'{"id":1}')], id="one-line"),
        pytest.param([b'{"id":1}\r\n{"id":2}\n'], [("line", b'{"id":1}\r'), ("line", b'{"id":2}')], id="two-lines-crlf-kept"),
        pytest.param([b'{"id":1}\n \t\r\n\n{"id":2}'], [("line", b'{"id":1}'), ("line", b'{"id":2}')], id="blank-lines"),
        pytest.param(bytewise(b'{"id":1}\n{"id":2}\n'), [("line", b'{"id":1}'), ("line", b'{"id":2}')], id="byte-by-byte"),
        pytest.param([b"GET\n", b"POST / HTTP/1.1\r\n\r\n"], [("line", b"GET"), ("line", b"POST / HTTP/1.1\r")],
                     id="lines-stay-lines"),
        pytest.param([b'  {"id":1}\n'], [("line", b'  {"id":1}')], id="leading-space"),
    ],
)
def test_json_lines(segments, frames):
    got, warnings, _ = run(segments)
    assert got == frames and warnings == []


def test_growing_line_over_the_limit_is_skipped_to_its_newline(monkeypatch):
    monkeypatch.setattr(reassembly, "MAX_LINE", 10)
    got, warnings, f = run([b"{", b"0123456", b"789", b"abc", b"def\nnext\n"])
    assert got == [("line", b"next")]
    assert warnings == ["stream offset 0: line longer than 10 bytes dropped"]


def test_overlong_http_head_is_dropped_and_framing_resumes(monkeypatch):
    monkeypatch.setattr(reassembly, "MAX_HEAD", 30)
    got, warnings, _ = run([b"POST / HTTP/1.1\r\nX: " + b"a" * 20, b"aaa\n", b'{"id":1}\n'])
    assert got == [("line", b'{"id":1}')]
    assert warnings == ["stream offset 0: HTTP head longer than 30 bytes dropped"]


def test_held_segment_is_replaced_only_by_a_longer_one():
    r = Reassembler()
    r.syn(0)
    assert r.push(10, b"ab") == [] and r.push(10, b"abcd") == [] and r.push(10, b"a") == []
    assert r.ooo_bytes == 4
    assert r.push(1, b"012345678") == [b"012345678", b"abcd"]
    assert (r.ooo, r.ooo_bytes, r.next_seq) == ({}, 0, 14)


# -- the corpus: the same messages whatever the segmentation ---------------------------------------
def corpus_directions() -> list[tuple[str, list[bytes | None]]]:
    """The in-order chunks (None: a hole) of every TCP direction of the corpus captures."""
    out = []
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name.endswith((".pcap", ".pcapng"))):
        reasm: dict[tuple, Reassembler] = collections.defaultdict(Reassembler)
        chunks: dict[tuple, list[bytes | None]] = collections.defaultdict(list)
        with open_capture(path) as capture:
            for p in capture:
                if p.proto == 6:
                    key = (p.src, p.sport, p.dst, p.dport)
                    if p.flags & 0x02:
                        reasm[key].syn(p.seq)
                    if p.payload:
                        chunks[key] += reasm[key].push(p.seq, p.payload)
        for key, r in reasm.items():
            chunks[key] += r.flush()
        out += [(f"{path.name} {key}", c) for key, c in chunks.items() if c]
    return out


def messages(chunks: list[bytes | None]) -> tuple[list[tuple], list[str]]:
    frames, warnings, _ = run(chunks)
    return [fr if fr[0] != "http-head" else (fr[0], fr[1]) for fr in frames], warnings


def test_corpus_streams_frame_the_same_whatever_the_segmentation(corpus):
    directions = corpus_directions()
    assert len(directions) > 100
    rng = random.Random(3)
    kinds: collections.Counter[str] = collections.Counter()
    for name, chunks in directions:
        as_captured = messages(chunks)
        runs: list[bytes | None] = []  # contiguous bytes in one piece, holes kept
        for c in chunks:
            if c is None or not runs or runs[-1] is None:
                runs.append(c)
            else:
                runs[-1] += c
        small: list[bytes | None] = []
        for c in runs:
            if c is None:
                small.append(None)
                continue
            cuts = sorted(rng.sample(range(1, len(c)), min(len(c) - 1, len(c) // 40))) if len(c) > 1 else []
            small += [c[a:b] for a, b in zip([0, *cuts], [*cuts, len(c)])]
        assert messages(runs) == as_captured, name
        assert messages(small) == as_captured, name
        kinds.update(fr[0] for fr in as_captured[0])
    assert kinds["line"] > 1000 and kinds["http"] > 10
