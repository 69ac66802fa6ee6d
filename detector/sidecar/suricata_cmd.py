"""Suricata EVE events -> Detector calls, and the batch run of ``minesweep suricata``.

``feed_eve(det, ev, where)`` hands one ``EveEvent`` to the detector:

* alert    -> ``Detector.alert``: the payload (``payload`` base64, qnsm's ``payload_hex``, or
  ``payload_printable`` when only that was logged) is decoded with the dialect parsers first;
  otherwise the rule's category / signature / MITRE metadata decide whether it is a mining alert.
  An alert on DNS names the queried name, never the resolver, as the pool.
* flow     -> ``Detector.conn`` (src is the flow's initiator; ``app_proto`` as the service)
* dns      -> ``Detector.dns`` (every EVE DNS format, normalised by the reader; on an answer the
  client is the destination)
* tls      -> ``Detector.tls`` (SNI, the certificate subject CN, the SHA-1 fingerprint)
* http     -> ``Detector.http`` (hostname)
* fileinfo, anomaly -> counted

Event types the reader does not model (stats, ssh, ...) and damaged lines are counted by the
reader and reported in ``inputs[].warnings``.

``analyze_eve(paths, options) -> (findings document, Detector)`` reads eve.json files (plain or
gzip; directories give their ``eve*.json*``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

from detector.sensors import ReadStats
from detector.sensors.suricata import EveEvent, expand_eve, read_eve_file
from detector.sidecar.logs import Conn, Detector, findings_document
from detector.sidecar.run import InputTracker, SidecarOptions

__all__ = ["analyze_eve", "expand_eve_paths", "feed_eve", "flow_key"]

_CN = re.compile(r"(?:^|,)\s*CN=([^,]+)")
_ANSWERING = frozenset({"answer", "response"})


def flow_key(ev: EveEvent) -> Hashable:
    """One connection: Suricata's flow_id, else the 5-tuple."""
    if ev.flow_id is not None:
        return ("eve", ev.flow_id)
    ends = sorted(((ev.src_ip or "", ev.src_port or 0), (ev.dest_ip or "", ev.dest_port or 0)))
    return ("eve", ev.proto, *ends)


def _mitre(ev: EveEvent) -> list[str]:
    alert = ev.raw.get("alert")
    meta = alert.get("metadata") if isinstance(alert, dict) else None
    values = meta.get("mitre_technique_id") if isinstance(meta, dict) else None
    if isinstance(values, str):
        return [values]
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _payload(ev: EveEvent) -> bytes | None:
    if ev.payload:
        return ev.payload
    if ev.payload_printable:
        return ev.payload_printable.encode("utf-8", "surrogateescape")
    return None


def feed_eve(det: Detector, ev: EveEvent, where: str) -> None:
    """Give one event to the detector."""
    t = ev.event_type
    if t == "alert" and ev.alert is not None:
        a = ev.alert
        direction = ev.raw.get("direction") if isinstance(ev.raw.get("direction"), str) else None
        names = [q.rrname for q in ev.dns.queries if q.rrname] if ev.dns else []
        det.alert(ev.timestamp, where, signature=a.signature, signature_id=a.signature_id, category=a.category,
                  mitre=_mitre(ev), payload=_payload(ev), src=ev.src_ip, src_port=ev.src_port,
                  dest=ev.dest_ip, dest_port=ev.dest_port, direction=direction, app_proto=ev.app_proto,
                  flow_key=flow_key(ev), dns_names=names, sni=ev.tls.sni if ev.tls else None)
    elif t == "flow" and ev.flow is not None and ev.src_ip and ev.dest_ip:
        fl = ev.flow
        start = fl.start if fl.start is not None else ev.timestamp
        end = fl.end if fl.end is not None else ev.timestamp
        service = ev.app_proto if ev.app_proto not in (None, "failed", "unknown") else None
        det.conn(Conn(start, ev.src_ip, ev.src_port, ev.dest_ip, ev.dest_port, (ev.proto or "").lower() or None,
                      service, max(end - start, 0.0), None, None, fl.pkts_toserver, fl.pkts_toclient,
                      fl.bytes_toserver, fl.bytes_toclient, where))
    elif t == "dns" and ev.dns is not None:
        d = ev.dns
        answering = (d.type or "") in _ANSWERING or (not d.queries and bool(d.answers))
        client = ev.dest_ip if answering else ev.src_ip
        det.saw_record(ev.src_ip, ev.dest_ip)
        queries = [q.rrname for q in d.queries if q.rrname]
        queries += [a.rrname for a in d.answers if a.rrname and a.rrname not in queries]
        answers = [a.rdata for a in d.answers if a.rdata and a.rrtype in ("A", "AAAA", "CNAME", None)]
        det.dns(ev.timestamp, client, queries[:8], answers, where)
    elif t == "tls" and ev.tls is not None and ev.src_ip and ev.dest_ip:
        m = _CN.search(ev.tls.subject or "")
        det.tls(ev.timestamp, ev.src_ip, ev.src_port, ev.dest_ip, ev.dest_port, ev.tls.sni, where,
                cert_names=[m.group(1).strip()] if m else [],
                cert_ids=[ev.tls.fingerprint] if ev.tls.fingerprint else [])
    elif t == "http" and ev.http is not None and ev.src_ip and ev.dest_ip:
        det.http(ev.timestamp, ev.src_ip, ev.src_port, ev.dest_ip, ev.dest_port, ev.http.hostname, where)
    else:
        det.saw_record(ev.src_ip, ev.dest_ip)


def expand_eve_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files to read: each file as given; a directory's eve*.json and eve*.json.gz, in name order."""
    return expand_eve(paths, prefix="eve")


def analyze_eve(paths: Iterable[str | os.PathLike[str]], options: SidecarOptions) -> tuple[dict[str, Any], Detector]:
    """Read every EVE file ``paths`` stand for; the findings document and the detector."""
    det = Detector("suricata", rules_dir=options.rules_dir, flow_shape=options.flow_shape)
    tracker = InputTracker()
    for path in expand_eve_paths(paths):
        stats = ReadStats(str(path))
        entry = tracker.start(path, stats)
        name = os.path.basename(path)
        for ev in read_eve_file(path, stats):
            feed_eve(det, ev, f"{name}:{ev.line}")
            entry.saw_time(ev.timestamp)
    return findings_document(det, tracker.records(), options.scan, options.min_confidence), det
