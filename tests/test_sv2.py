"""Tests for detector.dialects.sv2: Stratum V2 handshake recognition from turn sizes.

Positive cases are built from the specification's sizes (sv2-spec §4.5, §4.6, §3.6); negatives
are other protocols' openings and every TCP connection of the corpus (none is Stratum V2).
"""

from __future__ import annotations

import random
from pathlib import Path

import dpkt
import pytest

from detector.dialects import sv2
from detector.dialects.sv2 import C2S, S2C, Sv2Detector

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
RNG = random.Random(324)


def frame(plaintext_len: int) -> int:
    """Wire size of one encrypted SV2 frame (§4.6): 22-byte header + payload + MAC per block."""
    blocks, rest = divmod(plaintext_len, 65519)
    return sv2.ENCRYPTED_HEADER + blocks * 65535 + (rest + sv2.MAC if rest else 0)


def setup_connection(host: str = "pool.example.org", vendor: str = "Bitmain", hardware: str = "S19j Pro",
                     firmware: str = "braiins-os-2024-01", device: str = "") -> int:
    """Plaintext size of SetupConnection (§3.6.1): U8 U16 U16 U32, STR0_255, U16, 4 x STR0_255."""
    strings = (host, vendor, hardware, firmware, device)
    return 1 + 2 + 2 + 4 + 2 + sum(1 + len(s) for s in strings)


def feed_all(turns: list[tuple[str, int]], *, head: bytes = b"", finish: bool = True) -> Sv2Detector:
    detector = Sv2Detector()
    ts = 1700000000.0
    for index, (direction, size) in enumerate(turns):
        ts += 0.02
        detector.feed(direction, size, ts, head if index == 0 else b"")  # type: ignore[arg-type]
    if finish:
        detector.finish()
    return detector


def ellswift_key() -> bytes:
    return RNG.randbytes(64)


SETUP = frame(setup_connection())  # 22 + (11 + 17 + 8 + 9 + 19 + 1) + 16 = 103
SUCCESS = frame(6)  # 44
OPEN_CHANNEL = frame(4 + 1 + len("worker.1") + 4 + 32)  # OpenStandardMiningChannel
OPEN_SUCCESS = frame(4 + 4 + 32 + 1 + 4 + 4)  # OpenStandardMiningChannel.Success, 4-byte extranonce

SV2_SESSION = [(C2S, 64), (S2C, 234), (C2S, SETUP), (S2C, SUCCESS), (C2S, OPEN_CHANNEL), (S2C, OPEN_SUCCESS)]


def test_sizes_derived_from_the_spec() -> None:
    assert sv2.ACTS == {"ellswift": (64, 234), "legacy": (32, 170)}
    assert (SETUP, SUCCESS, sv2.SETUP_CONNECTION, sv2.SETUP_REPLY) == (103, 44, (54, 1329), (43, 298))
    assert frame(0) == 22 and frame(1) == sv2.MIN_PAYLOAD_FRAME == 39
    assert frame(65519) == 22 + 65535 and frame(65520) == 22 + 65535 + 17


def test_full_session_is_confirmed() -> None:
    detector = feed_all(SV2_SESSION, head=ellswift_key())
    assert detector.is_sv2_handshake() and detector.is_sv2_handshake(strict=False)
    evidence = detector.evidence
    assert evidence.verdict == "confirmed" and evidence.variant == "ellswift"
    assert evidence.sizes == (64, -234, 103, -44, OPEN_CHANNEL, -OPEN_SUCCESS)
    assert evidence.handshake_rtt == pytest.approx(0.02)


def test_segmented_turns_are_summed() -> None:
    detector = Sv2Detector()
    for direction, size in [(C2S, 40), (C2S, 24), (S2C, 200), (S2C, 34), (C2S, SETUP), (S2C, SUCCESS)]:
        detector.feed(direction, size, 0.0)  # type: ignore[arg-type]
        detector.feed(direction, 0, 0.0)  # pure ACKs are ignored
    detector.finish()
    assert detector.is_sv2_handshake()
    assert [t.segments for t in detector.evidence.turns] == [2, 2, 1, 1]


@pytest.mark.parametrize("error_code", ["", "unsupported-protocol", "x" * 255])
def test_setup_connection_error_reply_is_accepted(error_code: str) -> None:
    detector = feed_all([(C2S, 64), (S2C, 234), (C2S, SETUP), (S2C, frame(4 + 1 + len(error_code)))])
    assert detector.is_sv2_handshake()


def test_legacy_32_byte_keys() -> None:
    detector = feed_all([(C2S, 32), (S2C, 170), (C2S, frame(setup_connection())), (S2C, SUCCESS)],
                        head=RNG.randbytes(32))
    assert detector.is_sv2_handshake() and detector.evidence.variant == "legacy"


def test_handshake_alone_is_only_a_weak_signal() -> None:
    detector = feed_all([(C2S, 64), (S2C, 234)], finish=False)
    assert detector.evidence.verdict == "handshake"
    assert detector.is_sv2_handshake(strict=False) and not detector.is_sv2_handshake()


# --- negatives -----------------------------------------------------------------------------------

TLS_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(53)
SSH_BANNER_64 = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5 with-a-long-local-suffix\r\n"[:62] + b"\r\n"
STRATUM_V1_64 = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.9"]}\n'.ljust(64, b" ")


@pytest.mark.parametrize(
    ("turns", "head", "reason"),
    [
        ([(C2S, 517), (S2C, 3000)], TLS_HELLO, "first client turn of 517+ bytes"),  # TLS ClientHello
        ([(C2S, 64), (S2C, 234)], TLS_HELLO, "not a random-looking public key"),  # a 64-byte TLS hello
        ([(S2C, 41), (C2S, 64), (S2C, 234)], b"", "turn 1 comes from the server"),  # SSH server banner
        ([(C2S, 64), (S2C, 41), (S2C, 1100)], SSH_BANNER_64, "not a random-looking public key"),
        ([(C2S, 64), (S2C, 234)], STRATUM_V1_64, "not a random-looking public key"),
        ([(C2S, 64), (S2C, 1200)], b"", "act 2 of 1200+ bytes"),  # random key, big reply
        ([(C2S, 64), (S2C, 170)], b"", "act 2 of 170 bytes, expected 234"),  # sizes of two variants
        ([(C2S, 64), (S2C, 234), (C2S, 36)], b"", "SetupConnection of 36 bytes"),  # BIP 324 initiator
        ([(C2S, 64), (S2C, 234), (C2S, 1400)], b"", "SetupConnection of 1400+ bytes"),
        ([(C2S, 64), (S2C, 234), (C2S, SETUP), (S2C, 500)], b"", "SetupConnection reply of 500+"),
        ([(C2S, 64), (S2C, 234), (C2S, SETUP), (S2C, 20)], b"", "SetupConnection reply of 20 bytes"),
        ([(C2S, 48), (S2C, 234)], b"", "first client turn of 48 bytes"),
        ([*SV2_SESSION[:4], (C2S, 30)], b"", "turn 5 of 30 bytes is no sum of encrypted frames"),
    ],
)
def test_not_stratum_v2(turns: list[tuple[str, int]], head: bytes, reason: str) -> None:
    detector = feed_all(turns, head=head)
    assert not detector.is_sv2_handshake(strict=False)
    assert detector.evidence.verdict == "rejected"
    assert reason in detector.evidence.reason


def test_bip324_with_lucky_garbage_sizes_is_rejected() -> None:
    # initiator: key, no garbage; responder: key + 134 garbage + terminator + version = 234 bytes
    bip324 = [(C2S, 64), (S2C, 64 + 134 + 16 + 20), (C2S, 16 + 20), (S2C, 200)]
    detector = feed_all(bip324, head=ellswift_key())
    assert detector.evidence.verdict == "rejected" and detector.evidence.sizes[:3] == (64, -234, 36)


def test_looks_random() -> None:
    assert sv2.looks_random(ellswift_key()) and sv2.looks_random(RNG.randbytes(32))
    assert not sv2.looks_random(bytes(64))
    assert not sv2.looks_random(b"GET /index.html HTTP/1.1\r\nHost: pool.example.org\r\nAccept: */*\r\n")
    assert not sv2.looks_random(b"\x16\x03\x01" + RNG.randbytes(61))
    assert sv2.looks_random(b"abc")  # too short to judge
    assert all(sv2.looks_random(RNG.randbytes(64)) for _ in range(5000))
    assert all(sv2.looks_random(RNG.randbytes(32)) for _ in range(5000))


def test_odd_input_is_ignored_and_state_is_bounded() -> None:
    detector = Sv2Detector(max_turns=6)
    detector.feed("sideways", 64, 0.0)  # type: ignore[arg-type]
    detector.feed(C2S, -5, 0.0)
    assert detector.evidence.turns == ()
    for direction, size in SV2_SESSION * 3:
        detector.feed(direction, size, 1.0)  # type: ignore[arg-type]
    assert detector.done and len(detector.evidence.turns) == 6 and detector.is_sv2_handshake()


# --- the corpus holds no Stratum V2 ---------------------------------------------------------------

Conn = tuple[str, int, str, int]


def corpus_connections(path: Path) -> dict[Conn, list[tuple[str, int, float, bytes]]]:
    """Per TCP connection (originator first): (direction, payload size, ts, payload), deduplicated."""
    with path.open("rb") as handle:
        reader = dpkt.pcapng.Reader(handle) if path.suffix == ".pcapng" else dpkt.pcap.Reader(handle)
        linktype = reader.datalink()
        packets = list(reader)
    conns: dict[Conn, list[tuple[str, int, float, bytes]]] = {}
    seen: set[tuple[Conn, int]] = set()
    for ts, raw in packets:
        ip = dpkt.sll.SLL(raw).data if linktype == 113 else dpkt.ethernet.Ethernet(raw).data
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        src, dst = bytes(ip.src), bytes(ip.dst)
        key = (src.hex(), tcp.sport, dst.hex(), tcp.dport)
        back = (key[2], key[3], key[0], key[1])
        if key not in conns and back not in conns:
            conns[key] = []
        owner, direction = (key, C2S) if key in conns else (back, S2C)
        if tcp.data and (key, tcp.seq) not in seen:
            seen.add((key, tcp.seq))
            conns[owner].append((direction, len(tcp.data), float(ts), bytes(tcp.data)))
    return conns


CAPTURES = sorted(p for p in CORPUS.rglob("*.pcap*") if p.suffix in (".pcap", ".pcapng"))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_no_corpus_connection_looks_like_stratum_v2(path: Path) -> None:
    flagged = []
    for conn, packets in corpus_connections(path).items():
        detector = Sv2Detector()
        for direction, size, ts, payload in packets[:16]:
            detector.feed(direction, size, ts, payload)  # type: ignore[arg-type]
            if detector.done:
                break
        detector.finish()
        if detector.is_sv2_handshake(strict=False):
            flagged.append((conn, detector.evidence.sizes))
    assert flagged == []


def test_corpus_scan_sees_connections() -> None:
    conns = corpus_connections(CORPUS / "zeek-cryptomining/Traces/coinhive.pcap")
    assert len(conns) >= 21
