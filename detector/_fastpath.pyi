"""Type stub of the compiled fast path (source: detector/_fastpath.c; driver: detector/capture/fast.py)."""

from collections.abc import Callable
from typing import Any

EV_PACKET: int  #: (EV_PACKET, fid, Packet)
EV_PRELUDE: int  #: (EV_PRELUDE, fid, Prelude)
EV_SWEEP: int  #: (EV_SWEEP, ts)
EV_WARN: int  #: (EV_WARN, offset, message)
EV_FRAGMENT: int  #: (EV_FRAGMENT, ip_version, ip_packet_bytes, ts)
ST_MORE: int  #: stopped at the budget or after a fragment: call feed again from pos
ST_NEED: int  #: the record at pos is incomplete: feed again with at least `need` bytes from pos
ST_DONE: int  #: the file has ended (cleanly or at damage, warned)
KIND_PCAP: int
KIND_PCAPNG: int

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
    ) -> None: ...
    def begin(self, kind: int) -> None: ...
    def feed(self, buf: Any, pos: int, base: int, final: bool, budget: int) -> tuple[int, int, list[tuple[Any, ...]], int]: ...
    def observe(self, packet: Any) -> list[tuple[Any, ...]]: ...
    def ignore(self, a: str, ap: int, b: str, bp: int, proto: int, fid: int) -> bool: ...
    def file_stats(self) -> tuple[int, int, float | None, float | None, list[int], list[tuple[int, int, int]], int, int, int]: ...
    def counts(self) -> tuple[int, int, int]: ...
