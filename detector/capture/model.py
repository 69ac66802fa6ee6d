"""Records produced by the capture stage (the contract with every later stage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TCP = 6
UDP = 17

# TCP flag bits, as in the TCP header's flags byte.
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass(slots=True)
class Packet:
    """One TCP or UDP packet, decoded down to its transport payload.

    Only TCP and UDP packets (over IPv4 or IPv6, after IPv4 fragment reassembly) are yielded;
    everything else is counted in ``CaptureInfo.packets`` and skipped.
    """

    ts: float  #: capture time, seconds since the epoch (ns precision where the file has it)
    src: str  #: source address, ``ipaddress`` compressed text form ("10.0.0.1", "2001:db8::1")
    dst: str  #: destination address, same form
    proto: int  #: 6 (TCP) or 17 (UDP)
    sport: int  #: source port
    dport: int  #: destination port
    payload: bytes  #: transport payload as captured (may be shorter than on the wire if snapped)
    wirelen: int  #: IP packet length on the wire (IP header + transport header + payload)
    flags: int = 0  #: TCP flags byte (FIN/SYN/RST/PSH/ACK bits); 0 for UDP
    seq: int = 0  #: TCP sequence number; 0 for UDP
    ack: int = 0  #: TCP acknowledgement number; 0 for UDP
    snapped: bool = False  #: True when the payload was cut by the capture's snap length


@dataclass(slots=True)
class CaptureInfo:
    """What was read from one input file; becomes ``inputs[]`` in findings.json."""

    path: str
    format: str = "unknown"  #: "pcap", "pcap-ns", "pcapng", each with "+gzip" when compressed
    sha256: str = ""  #: of the file as stored (compressed bytes when gzip)
    size: int = 0  #: bytes of the file as stored
    packets: int = 0  #: every record read, whatever its protocol
    bytes: int = 0  #: sum of original (wire) lengths of all records
    first_ts: float | None = None
    last_ts: float | None = None
    linktypes: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  #: "offset N: what happened", bounded
    #: the fast path's hash of the file, still being computed (an object with ``digest() -> str | None``):
    #: ``settle()`` waits for it and fills ``sha256``
    sha256_later: Any = field(default=None, repr=False, compare=False)

    def settle(self) -> None:
        """Wait for a SHA-256 still being computed; store it in ``sha256`` (or say why it is missing)."""
        later, self.sha256_later = self.sha256_later, None
        if later is None:
            return
        digest = later.digest()
        if digest is not None:
            self.sha256 = digest
        else:  # kept even past the bound of the warnings list: a missing digest must be seen
            self.warnings.append("no SHA-256: the file changed or could not be read while it was hashed")
