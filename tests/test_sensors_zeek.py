"""Zeek log reader: every corpus log, exact values, and hostile files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from detector.errors import InputError, UnreadableInputError
from detector.sensors import ReadStats
from detector.sensors.zeek import (
    ZeekConn,
    ZeekDns,
    ZeekLineParser,
    ZeekNotice,
    ZeekSsl,
    ZeekX509,
    iter_zeek_records,
    log_type_from_name,
    read_zeek_file,
    typed,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

# (path under corpus, log type, format, records). Counted independently with
# `grep -vc '^#'` / `wc -l`. slips test10 conn.log: MANIFEST.tsv says 142, but its first line is
# a stray "\t#separator \x09" header line; the file holds 141 records.
CORPUS_LOGS = [
    ("slips/test10-mixed-zeek-dir/conn.log", "conn", "zeek-tsv", 141),
    ("slips/test10-mixed-zeek-dir/dns.log", "dns", "zeek-tsv", 93),
    ("slips/test10-mixed-zeek-dir/ssl.log", "ssl", "zeek-tsv", 13),
    ("slips/test10-mixed-zeek-dir/x509.log", "x509", "zeek-tsv", 2),
    ("slips/test9-mixed-zeek-dir/conn.log", "conn", "zeek-json", 576),
    ("slips/test9-mixed-zeek-dir/dns.log", "dns", "zeek-json", 239),
    ("slips/test9-mixed-zeek-dir/ssl.log", "ssl", "zeek-json", 205),
    ("zeek/Baseline/scripts.base.protocols.dns.dns-key/dns.log", "dns", "zeek-tsv", 1),
    ("zeek/Baseline/scripts.base.protocols.ssl.basic/ssl.log", "ssl", "zeek-tsv", 1),
    ("zeek/Baseline/scripts.base.protocols.ssl.basic/x509.log", "x509", "zeek-tsv", 2),
    ("zeek/Baseline/scripts.policy.protocols.conn.vlan-logging/conn.log", "conn", "zeek-tsv", 2),
]


def read(path: Path | str, **kw: object) -> tuple[list, ReadStats]:
    stats: list[ReadStats] = []
    recs = list(iter_zeek_records(path, stats=stats, **kw))  # type: ignore[arg-type]
    assert len(stats) == 1
    return recs, stats[0]


def first(rel: str, n: int = 0):
    return read(CORPUS / rel)[0][n]


# --------------------------------------------------------------------------- corpus


def test_every_corpus_log_is_listed() -> None:
    on_disk = {
        str(p.relative_to(CORPUS))
        for sub in ("zeek", "slips")
        for p in (CORPUS / sub).rglob("*.log")
    }
    assert on_disk == {rel for rel, *_ in CORPUS_LOGS}


@pytest.mark.parametrize(("rel", "log_type", "fmt", "count"), CORPUS_LOGS)
def test_corpus_log_parses_clean(rel: str, log_type: str, fmt: str, count: int) -> None:
    recs, st = read(CORPUS / rel)
    assert (st.records, st.malformed, st.format) == (count, 0, fmt)
    assert len(recs) == count
    assert {r.log_type for r in recs} == {log_type}
    assert all(isinstance(r.fields["ts"], float) or r.fields["ts"] is None for r in recs)


def test_directory_of_slips_logs() -> None:
    stats: list[ReadStats] = []
    recs = list(iter_zeek_records(CORPUS / "slips/test10-mixed-zeek-dir", stats=stats))
    assert [Path(s.path).name for s in stats] == ["conn.log", "dns.log", "ssl.log", "x509.log"]
    assert len(recs) == 141 + 93 + 13 + 2
    assert sum(s.malformed for s in stats) == 0


def test_tsv_conn_exact_values() -> None:
    rec = first("slips/test10-mixed-zeek-dir/conn.log")
    assert rec.line == 9
    assert rec.fields == {
        "ts": 1601998366.785668, "uid": "CNgrt04tHika5Pgpfi",
        "id.orig_h": "2001:718:2:1663:dc58:6d9:ef13:51a5", "id.orig_p": 54170,
        "id.resp_h": "2001:718:2:1611:0:1:0:90", "id.resp_p": 53, "proto": "udp",
        "service": "dns", "duration": 0.007707, "orig_bytes": 37, "resp_bytes": 77,
        "conn_state": "SF", "local_orig": None, "local_resp": None, "missed_bytes": 0,
        "history": "Dd", "orig_pkts": 1, "orig_ip_bytes": 85, "resp_pkts": 1,
        "resp_ip_bytes": 125, "tunnel_parents": None,
    }  # fmt: skip


def test_tsv_stray_leading_tab_header_is_a_warning_not_damage() -> None:
    _, st = read(CORPUS / "slips/test10-mixed-zeek-dir/conn.log")
    assert st.warnings == ["line 1: header line has leading whitespace"]


def test_tsv_unset_is_none_never_zero() -> None:
    rec = read(CORPUS / "slips/test10-mixed-zeek-dir/dns.log")[0][-1]
    f = rec.fields
    assert (f["rtt"], f["query"], f["qtype"], f["rcode"], f["answers"], f["TTLs"]) == (
        None, None, None, None, None, None,
    )  # fmt: skip
    assert (f["trans_id"], f["Z"], f["AA"]) == (0, 0, False)


def test_tsv_vectors_are_tuples() -> None:
    f = first("slips/test10-mixed-zeek-dir/dns.log").fields
    assert f["answers"] == ("clients.l.google.com", "2a00:1450:4014:80c::200e")
    assert f["TTLs"] == (15.0, 105.0)
    assert (f["RD"], f["RA"], f["qtype"], f["qtype_name"]) == (True, True, 28, "AAAA")


def test_tsv_empty_vector_is_empty_tuple() -> None:
    f = first("slips/test10-mixed-zeek-dir/ssl.log", 1).fields
    assert f["cert_chain_fuids"] == ("FRBu481kCfyF0aScA1", "Fyjto01jEK20hLjiY1")
    assert f["client_cert_chain_fuids"] == ()
    assert f["last_alert"] is None
    assert f["issuer"] == "CN=Let's Encrypt Authority X3,O=Let's Encrypt,C=US"


def test_btest_masked_timestamps_become_none() -> None:
    recs, st = read(CORPUS / "zeek/Baseline/scripts.base.protocols.ssl.basic/x509.log")
    assert st.masked == 2 and st.malformed == 0
    f = recs[0].fields
    assert f["ts"] is None
    assert f["certificate.not_valid_before"] == 1334102677.0
    assert f["san.dns"] == ("*.gstatic.com", "gstatic.com", "*.metric.gstatic.com")
    assert (f["basic_constraints.ca"], f["host_cert"], f["certificate.key_length"]) == (
        None, True, 1024,
    )  # fmt: skip
    assert recs[1].fields["basic_constraints.path_len"] == 0


def test_vlan_conn_int_columns() -> None:
    f = first("zeek/Baseline/scripts.policy.protocols.conn.vlan-logging/conn.log").fields
    assert (f["ip_proto"], f["vlan"], f["inner_vlan"], f["service"]) == (17, 13, 10, None)
    assert f["local_orig"] is True


def test_json_conn_exact_values() -> None:
    rec = first("slips/test9-mixed-zeek-dir/conn.log")
    assert rec.log_type == "conn" and rec.line == 1
    assert rec.fields["ts"] == 22.335172
    assert rec.fields["id.orig_h"] == "fe80::1cf4:44d2:904a:14f7"
    assert rec.fields["id.resp_p"] == 5355
    assert "local_orig" not in rec.fields  # absent in JSON = unset


def test_json_arrays_are_tuples() -> None:
    f = first("slips/test9-mixed-zeek-dir/ssl.log").fields
    assert f["cert_chain_fuids"] == ("FKMTO94tQEsBTFbPgc", "FiN0Qh1UtcWHK5OhI1")
    assert f["client_cert_chain_fuids"] == ()


# --------------------------------------------------------------------------- typed views


def test_typed_conn() -> None:
    c = typed(first("slips/test10-mixed-zeek-dir/conn.log"))
    assert c == ZeekConn(
        1601998366.785668, "CNgrt04tHika5Pgpfi", "2001:718:2:1663:dc58:6d9:ef13:51a5", 54170,
        "2001:718:2:1611:0:1:0:90", 53, "udp", "dns", 0.007707, 37, 77, "SF", 1, 1, "Dd",
    )  # fmt: skip


def test_typed_dns() -> None:
    d = ZeekDns.from_record(first("zeek/Baseline/scripts.base.protocols.dns.dns-key/dns.log"))
    assert (d.query, d.qtype, d.qtype_name, d.rcode_name) == ("paypal.com", 48, "DNSKEY", "NOERROR")
    assert d.answers == ("DNSKEY 5", "DNSKEY 5", "RRSIG 48 paypal.com", "RRSIG 48 paypal.com")
    assert d.ttls == (455.0,) * 4 and d.ts is None


@pytest.mark.parametrize(
    ("rel", "n", "sni", "fps", "fuids", "subject"),
    [
        ("zeek/Baseline/scripts.base.protocols.ssl.basic/ssl.log", 0, "ssl.gstatic.com",
         ("a580247a25324adf4add5af648de4ac5798030dfd622f26a5f2280d7528ae244",
          "250da2691be97c9a33ceef7e311c14fb01846e058a99cea9bd1125bd25a0cad5"), None, None),
        ("slips/test10-mixed-zeek-dir/ssl.log", 1, "virtual.secai.com", None,
         ("FRBu481kCfyF0aScA1", "Fyjto01jEK20hLjiY1"), "CN=virtual.secai.com"),
        ("slips/test9-mixed-zeek-dir/ssl.log", 0, "ieonline.microsoft.com", None,
         ("FKMTO94tQEsBTFbPgc", "FiN0Qh1UtcWHK5OhI1"), "CN=www.bing.com"),
    ],
)  # fmt: skip
def test_typed_ssl_old_and_new_schema(rel, n, sni, fps, fuids, subject) -> None:  # type: ignore[no-untyped-def]
    s = ZeekSsl.from_record(first(rel, n))
    assert (s.server_name, s.cert_chain_fps, s.cert_chain_fuids, s.subject) == (
        sni, fps, fuids, subject,
    )  # fmt: skip
    assert s.established is True and s.ja3 is None


def test_typed_x509_old_schema() -> None:
    x = ZeekX509.from_record(first("slips/test10-mixed-zeek-dir/x509.log"))
    assert x == ZeekX509(
        1601998391.12899, None, "FRBu481kCfyF0aScA1", "CN=virtual.rsecai.com",
        "CN=Let's Encrypt Authority X3,O=Let's Encrypt,C=US", 1599538205.0, 1607317805.0,
        ("virtual.secai.com",),
    )  # fmt: skip


def test_typed_view_refuses_other_log_type() -> None:
    with pytest.raises(ValueError, match="a dns record, not conn"):
        ZeekConn.from_record(first("slips/test10-mixed-zeek-dir/dns.log"))


# --------------------------------------------------------------------------- crafted TSV

HEAD = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
    "#path\t{path}\n#open\t2024-01-01-00-00-00\n#fields\t{fields}\n#types\t{types}\n"
)


def tsv(path: str, fields: list[str], types: list[str], rows: list[str], close: bool = True) -> str:
    text = HEAD.format(path=path, fields="\t".join(fields), types="\t".join(types))
    text += "".join(r + "\n" for r in rows)
    return text + ("#close\t2024-01-01-01-00-00\n" if close else "")


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


NOTICE = tsv(
    "notice",
    ["ts", "uid", "note", "msg", "sub", "src", "dst", "p", "actions"],
    ["time", "string", "enum", "string", "string", "addr", "addr", "port", "set[enum]"],
    ["1600000000.500000\tCx1\tBitcoin::Miner\tCryptominer at 10.0.2.15, using Stratum\t-\t"
     "10.0.2.15\t74.84.128.158\t3333\tNotice::ACTION_LOG"],
)  # fmt: skip


def test_notice(tmp_path: Path) -> None:
    (rec,), st = read(write(tmp_path, "notice.log", NOTICE))
    assert rec.fields["actions"] == ("Notice::ACTION_LOG",)
    assert typed(rec) == ZeekNotice(
        1600000000.5, "Cx1", "Bitcoin::Miner", "Cryptominer at 10.0.2.15, using Stratum", None,
        "10.0.2.15", "74.84.128.158", 3333,
    )  # fmt: skip


def test_escapes_and_reserved_strings(tmp_path: Path) -> None:
    row = "\t".join([r"a\x09b", r"\x2d", r"\x28empty)", r"caf\xc3\xa9\xff", r"a\x2cb,c", "(empty)"])
    text = tsv("x", ["s1", "s2", "s3", "s4", "v", "e"], ["string"] * 4 + ["set[string]", "string"],
               [row])  # fmt: skip
    (rec,), st = read(write(tmp_path, "x.log", text))
    assert rec.fields == {
        "s1": "a\tb", "s2": "-", "s3": "(empty)", "s4": "café\\xff", "v": ("a,b", "c"), "e": "",
    }  # fmt: skip
    assert st.malformed == 0


def test_custom_separators(tmp_path: Path) -> None:
    text = (
        "#separator |\n#set_separator|;\n#empty_field|EMPTY\n#unset_field|NONE\n#path|conn\n"
        "#fields|ts|id.orig_h|tags|n|s\n#types|time|addr|set[string]|count|string\n"
        "1.5|10.0.0.1|a;b|NONE|EMPTY\n2.0|::1|EMPTY|7|x\\x7cy\n"
    )
    recs, st = read(write(tmp_path, "conn.log", text))
    assert [r.fields for r in recs] == [
        {"ts": 1.5, "id.orig_h": "10.0.0.1", "tags": ("a", "b"), "n": None, "s": ""},
        {"ts": 2.0, "id.orig_h": "::1", "tags": (), "n": 7, "s": "x|y"},
    ]
    assert st.malformed == 0


def test_unset_elements_inside_vector(tmp_path: Path) -> None:
    text = tsv("x", ["v"], ["vector[count]"], ["1,-,3"])
    (rec,), _ = read(write(tmp_path, "x.log", text))
    assert rec.fields["v"] == (1, None, 3)


def test_several_header_blocks(tmp_path: Path) -> None:
    a = tsv("conn", ["ts", "uid"], ["time", "string"], ["1.0\tC1"])
    b = tsv("dns", ["ts", "query", "qtype"], ["time", "string", "count"], ["2.0\tpool.example\t1"])
    recs, st = read(write(tmp_path, "mixed.log", a + b))
    assert [(r.log_type, r.fields, r.line) for r in recs] == [
        ("conn", {"ts": 1.0, "uid": "C1"}, 9),
        ("dns", {"ts": 2.0, "query": "pool.example", "qtype": 1}, 19),
    ]
    assert st.malformed == 0


def test_old_bro_start_end_directives(tmp_path: Path) -> None:
    text = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tssh\n#start\t2012-07-20-01-49-19\n#fields\tdata\n#types\tstring\n"
        "abc\\x0a\\xffdef\n#end\t2012-07-20-01-49-19\n"
    )
    (rec,), st = read(write(tmp_path, "ssh.log", text))
    assert rec.log_type == "ssh" and rec.fields == {"data": "abc\n\\xffdef"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1.0\tC1\t10.0.0.1\t80", "field_count"),
        ("1.0\tC1\t10.0.0.1\t80\t5\tT\textra", "field_count"),
        ("soon\tC1\t10.0.0.1\t80\t5\tT", "bad_value"),
        ("1.0\tC1\t999.1.1.1\t80\t5\tT", "bad_value"),
        ("1.0\tC1\t10.0.0.1\t70000\t5\tT", "bad_value"),
        ("1.0\tC1\t10.0.0.1\t80\t-5\tT", "bad_value"),
        ("1.0\tC1\t10.0.0.1\t80\t1_000\tT", "bad_value"),
        ("1.0\tC1\t10.0.0.1\t80\t(empty)\tT", "bad_value"),
        ("1.0\tC1\t10.0.0.1\t80\t5\tyes", "bad_value"),
    ],
)
def test_damaged_tsv_lines_are_counted_and_skipped(tmp_path: Path, row: str, reason: str) -> None:
    good = "1.0\tC1\t10.0.0.1\t80\t5\tT"
    text = tsv("conn", ["ts", "uid", "id.orig_h", "id.orig_p", "orig_bytes", "local_orig"],
               ["time", "string", "addr", "port", "count", "bool"], [good, row, good])  # fmt: skip
    recs, st = read(write(tmp_path, "conn.log", text))
    assert len(recs) == 2 and [r.line for r in recs] == [9, 11]
    assert (st.records, st.malformed, st.skipped) == (2, 1, {reason: 1})
    assert st.warnings[0].startswith(f"line 10: {reason}")


def test_bad_utf8_blank_and_huge_lines(tmp_path: Path) -> None:
    text = tsv("conn", ["ts", "uid"], ["time", "string"], ["1.0\tC1"], close=False).encode()
    text += b"2.0\tC\xff\xfe2\n\n" + b"3.0\t" + b"A" * (2 << 20) + b"\n4.0\tC4\n"
    recs, st = read(write(tmp_path, "conn.log", text))
    assert [r.fields["uid"] for r in recs] == ["C1", "C4"]
    assert recs[1].line == 13
    assert st.skipped == {"bad_utf8": 1, "blank": 1, "too_long": 1}
    assert st.malformed == 2


def test_data_before_header_and_mismatched_header(tmp_path: Path) -> None:
    text = "#separator \\x09\n#fields\ta\tb\n#types\tcount\n1\t2\n"
    recs, st = read(write(tmp_path, "x.log", text))
    assert recs == [] and st.skipped == {"bad_header": 1}


def test_warnings_are_bounded(tmp_path: Path) -> None:
    rows = [f"{i}.0\tC" for i in range(100)]  # every row lacks a column
    text = tsv("conn", ["ts", "uid", "x"], ["time", "string", "count"], rows)
    _, st = read(write(tmp_path, "conn.log", text))
    assert st.malformed == 100 and len(st.warnings) == 20 and st.warnings_dropped == 80


# --------------------------------------------------------------------------- crafted JSON


def test_json_iso_ts_path_and_nesting(tmp_path: Path) -> None:
    lines = [
        {"_path": "notice", "ts": "2021-06-06T14:26:27.431769Z", "note": "Bitcoin::Miner",
         "id": {"orig_h": "10.0.0.5", "orig_p": 40000}, "actions": ["Notice::ACTION_LOG"]},
        {"ts": 1600000000, "uid": "C2", "id.orig_h": "10.0.0.6"},
    ]  # fmt: skip
    text = "\n".join(json.dumps(o) for o in lines) + "\n"
    recs, st = read(write(tmp_path, "weird.log", text))
    assert [r.log_type for r in recs] == ["notice", "weird"]
    assert recs[0].fields["ts"] == 1622989587.431769
    assert recs[0].fields["id.orig_h"] == "10.0.0.5" and recs[0].fields["id.orig_p"] == 40000
    assert recs[0].fields["actions"] == ("Notice::ACTION_LOG",)
    assert recs[1].fields["ts"] == 1600000000.0 and isinstance(recs[1].fields["ts"], float)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"ts": 1.0, "uid": ', "bad_json"),
        (b"[1, 2, 3]", "not_object"),
        (b'{"ts": "yesterday"}', "bad_value"),
        (b'{"ts": 1.0, "q": "\xff\xfe"}', "bad_utf8"),
        (b"[" * 200_000 + b"]" * 200_000, "bad_json"),
        (b'{"ts": 1.0, "n": ' + b"9" * 5000 + b"}", "bad_json"),
    ],
)
def test_damaged_json_lines(tmp_path: Path, line: bytes, reason: str) -> None:
    good = b'{"ts": 1.0, "uid": "C1"}\n'
    recs, st = read(write(tmp_path, "conn.log", good + line + b"\n" + good))
    assert len(recs) == 2 and (st.malformed, st.skipped) == (1, {reason: 1})


# --------------------------------------------------------------------------- files


def test_gzip_and_truncated_gzip(tmp_path: Path) -> None:
    src = (CORPUS / "slips/test10-mixed-zeek-dir/dns.log").read_bytes()
    whole = gzip.compress(src)
    recs, st = read(write(tmp_path, "dns.log.gz", whole))
    assert (len(recs), st.format, st.malformed) == (93, "zeek-tsv+gzip", 0)
    recs, st = read(write(tmp_path, "dns2.log.gz", whole[: len(whole) // 2]))
    assert 0 < len(recs) < 93 and st.malformed == 0
    assert "gzip stream truncated" in st.warnings[-1]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.log", b"hello world\nthis is not zeek\n", "not a Zeek log"),
        ("bin.log", (CORPUS / "ndpi/jsonrpc.pcap").read_bytes(), "not a Zeek log"),
        ("eve.json", (CORPUS / "qnsm/eve_alert_from_doc_msg.md.eve.jsonl").read_bytes(),
         "Suricata EVE JSON, not a Zeek log"),
        ("bad.log.gz", b"\x1f\x8b" + b"\x00" * 40, "corrupt gzip"),
    ],
)  # fmt: skip
def test_not_a_zeek_log(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    p = write(tmp_path, name, data)
    with pytest.raises(InputError, match=message) as e:
        list(iter_zeek_records(p))
    assert "\n" not in str(e.value) and str(p) in str(e.value)


def test_empty_file_gives_no_records(tmp_path: Path) -> None:
    recs, st = read(write(tmp_path, "conn.log", b""))
    assert recs == [] and st.format == "empty"


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match="no such file"):
        list(iter_zeek_records(tmp_path / "nope.log"))
    with pytest.raises(UnreadableInputError, match="no Zeek logs"):
        list(iter_zeek_records(tmp_path))


def test_zeekcontrol_layout(tmp_path: Path) -> None:
    conn = (CORPUS / "slips/test10-mixed-zeek-dir/conn.log").read_bytes()
    dns = (CORPUS / "slips/test10-mixed-zeek-dir/dns.log").read_bytes()
    ssl = (CORPUS / "slips/test10-mixed-zeek-dir/ssl.log").read_bytes()
    logs = tmp_path / "logs"
    day = logs / "2021-05-06"
    (logs / "current").mkdir(parents=True)
    day.mkdir()
    write(day, "conn.01:00:00-02:00:00.log.gz", gzip.compress(conn))
    write(day, "conn.00:00:00-01:00:00.log.gz", gzip.compress(conn))
    write(day, "dns.00:00:00-01:00:00.log.gz", gzip.compress(dns))
    write(day, "conn-summary.00:00:00-01:00:00.log.gz", gzip.compress(b"summary text\n"))
    write(logs / "current", "ssl.log", ssl)
    write(logs / "current", "stderr.log", b"listening on eth0\n")
    stats: list[ReadStats] = []
    recs = list(iter_zeek_records(logs, stats=stats))
    names = [Path(s.path).name for s in stats]
    assert names == [
        "conn-summary.00:00:00-01:00:00.log.gz", "conn.00:00:00-01:00:00.log.gz",
        "conn.01:00:00-02:00:00.log.gz", "dns.00:00:00-01:00:00.log.gz", "ssl.log", "stderr.log",
    ]  # fmt: skip
    assert [s.records for s in stats] == [0, 141, 141, 93, 13, 0]
    assert [s.format for s in stats] == ["not-zeek", "zeek-tsv+gzip", "zeek-tsv+gzip",
                                         "zeek-tsv+gzip", "zeek-tsv", "not-zeek"]  # fmt: skip
    assert len(recs) == 141 * 2 + 93 + 13
    assert [r.log_type for r in recs[:1] + recs[-1:]] == ["conn", "ssl"]


@pytest.mark.parametrize(
    ("name", "log_type"),
    [("conn.log", "conn"), ("conn.00:00:00-01:00:00.log.gz", "conn"), ("dns.log.gz", "dns"),
     ("/x/y/x509.log", "x509")],
)  # fmt: skip
def test_log_type_from_name(name: str, log_type: str) -> None:
    assert log_type_from_name(name) == log_type


def test_line_parser_resuming_mid_file(tmp_path: Path) -> None:
    p = CORPUS / "slips/test10-mixed-zeek-dir/dns.log"
    parser = ZeekLineParser(str(p))
    parser.load_header(p)
    line = p.read_bytes().split(b"\n")[20]  # physical line 21, a record
    rec = parser.feed(line, 21)
    assert rec is not None and rec.log_type == "dns" and rec.line == 21
    assert rec.fields == read(p)[0][12].fields


def test_read_zeek_file_fills_stats(tmp_path: Path) -> None:
    st = ReadStats("x")
    recs = list(read_zeek_file(CORPUS / "slips/test9-mixed-zeek-dir/dns.log", st))
    assert (len(recs), st.records, st.format) == (239, 239, "zeek-json")
