"""Zeek logs -> Detector calls, and the batch run of ``minesweep zeek``.

``feed_zeek(det, rec, where)`` hands one ``ZeekRecord`` to the detector:

* conn      -> ``Detector.conn`` (orig is the client; ``service`` as Zeek identified it)
* dns       -> ``Detector.dns`` (query, answers)
* ssl       -> ``Detector.tls`` (server_name; the old schema's ``subject`` CN; cert_chain_fps
  or cert_chain_fuids, linked to x509.log)
* x509      -> ``Detector.x509`` (san.dns and the subject CN, keyed by fingerprint or file id)
* notice    -> ``Detector.notice`` (zeek-cryptomining notices, MINESWEEP signature notices)
* signatures-> ``Detector.notice`` (signatures.log of a MINESWEEP signature match)
* intel     -> ``Detector.intel``
* http      -> ``Detector.http`` (Host)

Other log types are counted and otherwise ignored. Records without a usable ``ts`` (a test
canonifier's ``XXXXXXXXXX.XXXXXX``) are counted and skipped.

``analyze_zeek(paths, options) -> (findings document, Detector)`` reads files or ZeekControl
directories (``*.log``, ``*.log.gz``, dated archives, ``current/``), the log types that teach
names (dns, x509) first, then the rest, so a conn.log line meets the DNS answer that named its
server whatever order the files were given in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from detector.errors import InputError
from detector.sensors import ReadStats
from detector.sensors.zeek import (
    ZeekConn,
    ZeekDns,
    ZeekNotice,
    ZeekRecord,
    ZeekSsl,
    ZeekX509,
    expand_zeek_paths,
    log_type_from_name,
    read_zeek_file,
)
from detector.sidecar.logs import Conn, Detector, findings_document
from detector.sidecar.run import InputTracker, SidecarOptions

__all__ = ["LOG_ORDER", "analyze_zeek", "feed_zeek", "where_of"]

#: read first: the log types that name pools (so later connections can be linked at once)
LOG_ORDER = ("dns", "x509", "ssl", "http", "intel", "notice", "signatures", "conn")
_CN = re.compile(r"(?:^|,)\s*CN=([^,]+)")


def where_of(path: str, line: int | str) -> str:
    """``conn.log:12`` — how evidence names a log line."""
    return f"{os.path.basename(path)}:{line}"


def _cn(subject: str | None) -> list[str]:
    m = _CN.search(subject or "")
    return [m.group(1).strip()] if m else []


def _int(fields: dict[str, Any], key: str) -> int | None:
    v = fields.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _str(fields: dict[str, Any], key: str) -> str | None:
    v = fields.get(key)
    return v if isinstance(v, str) else None


def _strs(fields: dict[str, Any], key: str) -> tuple[str, ...]:
    v = fields.get(key)
    if isinstance(v, (tuple, list)):
        return tuple(x for x in v if isinstance(x, str))
    return (v,) if isinstance(v, str) else ()


def feed_zeek(det: Detector, rec: ZeekRecord, where: str) -> bool:
    """Give one record to the detector; False when it was skipped for lack of a time."""
    t, f = rec.log_type, rec.fields
    ts = f.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        det.saw_record(_str(f, "id.orig_h"), _str(f, "id.resp_h"))
        return False
    ts = float(ts)
    if t == "conn":
        c = ZeekConn.from_record(rec)
        if c.orig_h and c.resp_h:
            det.conn(Conn(ts, c.orig_h, c.orig_p, c.resp_h, c.resp_p, c.proto, c.service, c.duration,
                          c.orig_bytes, c.resp_bytes, c.orig_pkts, c.resp_pkts, _int(f, "orig_ip_bytes"),
                          _int(f, "resp_ip_bytes"), where))
        else:
            det.saw_record(c.orig_h, c.resp_h)
    elif t == "dns":
        d = ZeekDns.from_record(rec)
        det.saw_record(d.orig_h, d.resp_h)
        det.dns(ts, d.orig_h, [d.query] if d.query else [], d.answers or (), where)
    elif t == "ssl":
        s = ZeekSsl.from_record(rec)
        if s.orig_h and s.resp_h:
            det.tls(ts, s.orig_h, s.orig_p, s.resp_h, s.resp_p, s.server_name, where,
                    cert_names=_cn(s.subject), cert_ids=s.cert_chain_fps or s.cert_chain_fuids or ())
    elif t == "x509":
        x = ZeekX509.from_record(rec)
        det.saw_record()
        det.x509(ts, x.fingerprint or x.file_id, [*(x.san_dns or ()), *_cn(x.subject)], where)
    elif t == "notice":
        n = ZeekNotice.from_record(rec)
        det.notice(ts, where, note=n.note, msg=n.msg, sub=n.sub, orig_h=_str(f, "id.orig_h") or n.src,
                   orig_p=_int(f, "id.orig_p"), resp_h=_str(f, "id.resp_h") or n.dst,
                   resp_p=_int(f, "id.resp_p") or n.p, uid=n.uid)
    elif t == "signatures":
        det.notice(ts, where, note=_str(f, "note") or "Signatures::Sensitive_Signature",
                   msg=_str(f, "event_msg"), sub=_str(f, "sub_msg"), orig_h=_str(f, "src_addr"),
                   orig_p=_int(f, "src_port"), resp_h=_str(f, "dst_addr"), resp_p=_int(f, "dst_port"),
                   uid=_str(f, "uid"))
    elif t == "intel":
        det.intel(ts, where, indicator=_str(f, "seen.indicator"), indicator_type=_str(f, "seen.indicator_type"),
                  seen_where=_str(f, "seen.where"), sources=_strs(f, "sources"), orig_h=_str(f, "id.orig_h"),
                  orig_p=_int(f, "id.orig_p"), resp_h=_str(f, "id.resp_h"), resp_p=_int(f, "id.resp_p"))
    elif t == "http":
        orig, resp = _str(f, "id.orig_h"), _str(f, "id.resp_h")
        if orig and resp:
            det.http(ts, orig, _int(f, "id.orig_p"), resp, _int(f, "id.resp_p"), _str(f, "host"), where)
    else:
        det.saw_record(_str(f, "id.orig_h"), _str(f, "id.resp_h"))
    return True


def ordered(files: list[tuple[Path, bool]]) -> list[tuple[Path, bool]]:
    """Files with the name-teaching log types first, time order kept within a type."""
    rank = {t: i for i, t in enumerate(LOG_ORDER)}
    return sorted(files, key=lambda pe: rank.get(log_type_from_name(pe[0].name), len(LOG_ORDER)))


def analyze_zeek(paths: Iterable[str | os.PathLike[str]], options: SidecarOptions) -> tuple[dict[str, Any], Detector]:
    """Read every Zeek log ``paths`` stand for; the findings document and the detector."""
    det = Detector("zeek", rules_dir=options.rules_dir, flow_shape=options.flow_shape)
    tracker = InputTracker()
    for path, explicit in ordered(expand_zeek_paths(list(paths))):
        stats = ReadStats(str(path))
        entry = tracker.start(path, stats)
        try:
            for rec in read_zeek_file(path, stats):
                if feed_zeek(det, rec, where_of(str(path), rec.line)):
                    entry.saw_time(rec.fields.get("ts"))
                else:
                    entry.no_time += 1
        except InputError as exc:
            if explicit:
                raise
            stats.format = "not-zeek"
            stats.warn(f"skipped: {exc}")
    return findings_document(det, tracker.records(), options.scan, options.min_confidence), det
