"""Type stub of the compiled fast path (source: detector/_fastpath.c; driver: detector/capture/fast.py)."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

EV_PACKET: int  #: (EV_PACKET, fid, Packet)
EV_PRELUDE: int  #: (EV_PRELUDE, fid, Prelude)
EV_SWEEP: int  #: (EV_SWEEP, ts)
EV_WARN: int  #: (EV_WARN, offset, message)
EV_FRAGMENT: int  #: (EV_FRAGMENT, ip_version, ip_packet_bytes, ts)
#: (EV_ACKS, fid, (a, ap, b, bp, proto), packets, bytes, flags, pushes, last_ts | None): held pure ACKs
EV_ACKS: int
#: (EV_SUMMARY, fid, FlowSummary): a flow ended (replaced, idle, swept, or at finish()); only with summary_cls
EV_SUMMARY: int
#: (EV_DNS, ts, receiver, message): a DNS response (UDP, port 53, QR set); only with dns_events
EV_DNS: int
#: (EV_BEHAVIOUR, a, b, bp, flags_a, flags_b, client_is_a, silent): at finish(), with summary_gate, a
#: flow whose summary nobody reads but its hosts' behaviour (detector.behaviour.Behaviour.tcp)
EV_BEHAVIOUR: int
#: (EV_ANSWERS, ts, receiver, asked, ((address, asked), ...)): instead of EV_DNS for the usual
#: response, read by the kernel as detector.dialects.dns.answered_addresses reads it; only with dns_answers
EV_ANSWERS: int
ST_MORE: int  #: stopped at the budget or after a fragment: walk again from pos
ST_NEED: int  #: the record at pos is incomplete: walk again with at least `need` bytes from pos
ST_DONE: int  #: the file has ended (cleanly or at damage, warned)
KIND_PCAP: int
KIND_PCAPNG: int

class Batch:
    """The events of one walk, materialised as they are iterated (events of flows ignored since
    the walk are dropped on the way); the walk's facts stay readable after the last event."""

    pos: int  #: where the walk stopped
    status: int  #: ST_MORE, ST_NEED or ST_DONE
    need: int  #: ST_NEED: bytes wanted from pos
    decoded: int  #: TCP/UDP packets of the file decoded so far
    barrier: bool  #: the walk stopped after a fragment (the walker waits for the next next())
    def __iter__(self) -> Iterator[tuple[Any, ...]]: ...
    def __next__(self) -> tuple[Any, ...]: ...
    def close(self) -> None: ...

class MessageParser:
    def __init__(self, scan_once: Any, message_cls: type, known: frozenset[str], no_extra: dict[str, Any],
                 hashable_id: Any) -> None: ...
    def __call__(self, raw: Any) -> Any: ...

class Hasher:
    """SHA-256 of the first ``size`` bytes of the open file ``fd`` (owned once made), in a thread
    of its own; RuntimeError when hashlib loaded no libcrypto to hash with."""

    def __init__(self, fd: int, size: int, held: bool = False) -> None: ...
    def digest(self) -> str | None: ...
    def cancel(self) -> None: ...
    def hold(self, closed: bool) -> None: ...

class Kernel:
    def __init__(
        self,
        hints: tuple[bytes, ...],
        unhinted_limit: int,
        idle_timeout: float,
        sweep_every: int,
        max_caplen: int,
        max_block: int,
        max_tags: int,
        max_ext_headers: int,
        addr_cache_size: int,
        packet_cls: type,
        prelude_cls: type,
        name6: Callable[[bytes], str],
        seed: int,
        hold_acks: bool = False,
        summary_cls: type | None = None,
        first_payloads: int = 8,
        dns_events: bool = False,
        pool_domains: Sequence[str] | None = None,
        download_magic: tuple[bytes, ...] | None = None,
        script_types: tuple[str, ...] | None = None,
        peek_bytes: int = 64,
        methods: Sequence[str] | None = None,
        message_limit: int = 16,
        foreign_limit: int = 4,
        tcp_summaries_only: bool = False,
        dns_answers: bool = False,
        summary_gate: tuple[float, int, int, int, tuple[int, ...]] | None = None,
    ) -> None: ...
    def begin(self, kind: int) -> None: ...
    def walk(self, buf: Any, pos: int, base: int, final: bool, budget: int) -> Batch: ...
    def feed(self, buf: Any, pos: int, base: int, final: bool, budget: int) -> tuple[int, int, list[tuple[Any, ...]], int]: ...
    def start(self, buf: Any, pos: int, base: int, budget: int, hasher: Hasher | None = None) -> None: ...
    def next(self) -> Batch | None: ...
    def stop(self) -> None: ...
    def release(self, pos: int) -> None: ...
    def observe(self, packet: Any) -> Batch: ...
    def ignore(self, a: str, ap: int, b: str, bp: int, proto: int, fid: int) -> None: ...
    def finish(self, read: Iterable[tuple[str, int, str, int]] | None = None) -> Batch: ...
    def file_stats(self) -> tuple[int, int, float | None, float | None, list[int], list[tuple[int, int, int]], int, int, int]: ...
    def counts(self) -> tuple[int, int, int, int, int, int, int]: ...
