"""The CSV writers (hosts.csv, units.csv, sessions.csv, subnets.csv, iocs.csv): the bytes pandas
wrote for every golden findings document, exact cell formats, hostile cells kept to one inert cell
each, the DataFrames built from the same rows, and no pandas on the commands' start-up path."""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from detector.output.csvs import (
    SESSION_COLUMNS,
    sessions_table,
    subnets_table,
    write_sessions_csv,
    write_subnets_csv,
)
from detector.output.iocs import COLUMNS as IOC_COLUMNS
from detector.output.iocs import iocs_frame, iocs_table, write_iocs_csv
from detector.output.tables import (
    CELL_LIMIT,
    HOST_COLUMNS,
    UNIT_COLUMNS,
    Table,
    frame,
    hosts_frame,
    hosts_table,
    safe_cell,
    units_frame,
    units_table,
    write_hosts_csv,
    write_table,
    write_units_csv,
)

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))
BUILDERS: dict[str, Callable[[dict[str, Any]], Table]] = {
    "hosts": lambda doc: hosts_table(doc["hosts"]),
    "units": lambda doc: units_table(doc["units"]),
    "sessions": sessions_table,
    "subnets": subnets_table,
    "iocs": iocs_table,
}


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _pandas_bytes(table: Table, path: Path, keep_types: bool = False) -> bytes:
    """What the former pandas writer wrote: ``DataFrame(rows).map(safe_cell).to_csv(index=False)``,
    or with ``keep_types`` the same with each value as its own type, without pandas' column dtypes."""
    import pandas as pd

    if keep_types:
        rows = [tuple(map(safe_cell, row)) for row in table.rows]
        pd.DataFrame(rows, columns=list(table.columns), dtype=object).to_csv(path, index=False)
    else:
        df = pd.DataFrame(table.rows, columns=list(table.columns))
        (df.map(safe_cell) if len(df) else df).to_csv(path, index=False)
    return path.read_bytes()


# --------------------------------------------------------------------------- same bytes as pandas


@pytest.mark.parametrize("table", BUILDERS)
@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name.removesuffix(".json"))
def test_golden_findings_give_the_bytes_pandas_wrote(golden, table, tmp_path):
    built = BUILDERS[table](json.loads(golden.read_text("utf-8")))
    assert built.rows or table == "units"  # every sample has hosts, sessions, subnets and indicators
    assert write_table(built, tmp_path / "new.csv").read_bytes() == _pandas_bytes(built, tmp_path / "old.csv")


def test_integer_counts_stay_integers_when_a_row_lacks_one(tmp_path):
    """pandas made a column of integers with one None a float column (12 written "12.0"); the
    stdlib writer writes each value as it is in the findings."""
    doc = json.loads(GOLDEN[0].read_text("utf-8"))
    doc["sessions"] = [dict(doc["sessions"][0], submits=12, client_port=None),
                       dict(doc["sessions"][0], submits=None, client_port=40001)]
    rows = _read(write_sessions_csv(doc, tmp_path))
    col = {name: i for i, name in enumerate(SESSION_COLUMNS)}
    assert [(r[col["submits"]], r[col["client_port"]]) for r in rows[1:]] == [("12", ""), ("", "40001")]
    table = sessions_table(doc)
    new = write_table(table, tmp_path / "n.csv").read_bytes()
    assert new == _pandas_bytes(table, tmp_path / "o.csv", keep_types=True)
    assert b",12.0," in _pandas_bytes(table, tmp_path / "o.csv") and b",12.0," not in new


# --------------------------------------------------------------------------- cell formats


def test_cell_formats(tmp_path):
    values = (None, float("nan"), float("inf"), 1.0, 12, True, False, 1e16, 0.1 + 0.2, 2**70, -1, 1e-05,
              "-1", "=x", "", "a,b", 'q"q', "l\nf", "é中文")
    table = Table(tuple(f"c{i}" for i in range(len(values))), [values])
    body = write_table(table, tmp_path / "t.csv").read_bytes().decode("utf-8")
    assert body.split("\n", 1)[1] == (
        ",,inf,1.0,12,True,False,1e+16,0.30000000000000004,1180591620717411303424,-1,1e-05,"
        "'-1,'=x,,\"a,b\",\"q\"\"q\",\"l\nf\",é中文\n")


def test_carriage_return_is_quoted_and_line_ends_stay_lf(tmp_path):
    table = Table(("a", "b"), [("x\ry", 1), ("z", 2), ("\r\n", 3)])
    path = write_table(table, tmp_path / "t.csv")
    assert path.read_bytes() == b'a,b\n"x\ry",1\nz,2\n"\'\r\n",3\n'
    assert _read(path) == [["a", "b"], ["x\ry", "1"], ["z", "2"], ["'\r\n", "3"]]


@pytest.mark.parametrize("writer, columns", [
    (write_hosts_csv, HOST_COLUMNS), (write_units_csv, UNIT_COLUMNS), (write_sessions_csv, SESSION_COLUMNS),
    (write_iocs_csv, IOC_COLUMNS),
])
def test_empty_findings_give_the_header_only(writer, columns, tmp_path):
    assert writer({"hosts": [], "units": []}, tmp_path).read_text("utf-8") == ",".join(columns) + "\n"


def test_subnet_columns_only_for_plain_algorithm_names(tmp_path):
    doc = {"subnets": [{"subnet": "10.0.0.0/24", "hashrate_by_algorithm": {
        "=cmd|x": {"value": 1}, "sha256d": {"value": 5, "low": 2.5, "high": None, "unit": "H/s"}}}]}
    assert _read(write_subnets_csv(doc, tmp_path))[0][-4:] == [
        "sha256d_hashrate", "sha256d_hashrate_low", "sha256d_hashrate_high", "sha256d_unit"]
    assert _read(tmp_path / "subnets.csv")[1] == ["10.0.0.0/24", *[""] * 9, "5", "2.5", "", "H/s"]


# --------------------------------------------------------------------------- hostile cells

HOSTILE = [  # (id, worker name or agent, the cell a reader gets back)
    ("comma", "rig,01", "rig,01"),
    ("quote", 'rig"01"', 'rig"01"'),
    ("newline", "rig\n01", "rig\n01"),
    ("crlf", "rig\r\n01", "rig\r\n01"),
    ("bare-cr-then-formula", "rig\r=HYPERLINK(\"http://x\")", "rig\r=HYPERLINK(\"http://x\")"),
    ("nul", "rig\x0001", "rig\ufffd01"),
    ("escape", "rig\x1b[31m", "rig\ufffd[31m"),
    ("surrogate", "rig\ud80001", "rig\ufffd01"),
    ("long", "A" * 200_000, "A" * (CELL_LIMIT - 1) + "…"),
    ("equals", "=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("plus", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
    ("minus", "-2+3", "'-2+3"),
    ("at", "@SUM(1,2)", "'@SUM(1,2)"),
    ("tab", "\t=1", "'\t=1"),
    ("cr", "\r=1", "'\r=1"),
]
MINI_SESSION = {
    "client": "10.0.0.7", "client_port": 40000, "server": "192.0.2.9", "server_port": 3333, "dialect": "stratum",
    "transport": "tcp", "coin": "BTC", "algorithm": "sha256d", "pool": "pool.example.org", "first_seen": 1.6e9,
    "last_seen": 1.6e9 + 60, "submits": 12, "accepted": 12, "rejected": 0,
}
MINI_HOST = {
    "ip": "10.0.0.7", "sessions": 1, "pools": ["pool.example.org"], "coins": ["BTC"],
    "hashrate": {"algorithm": "sha256d", "value": 1.5e12, "low": 1e12, "high": 2e12, "unit": "H/s"},
    "energy_kwh_per_day": {"low": 1.0, "best": 2.0, "high": 3.0}, "egress_bytes": 4000, "egress_mbps": 0.5,
    "first_seen": 1.6e9, "last_seen": 1.6e9 + 60, "submits": 12, "accepted": 12, "rejected": 0, "wallets": [],
}


def _hostile_doc(text: str) -> dict[str, Any]:
    return {"sessions": [dict(MINI_SESSION, worker=text, agent=text)],
            "hosts": [dict(MINI_HOST, workers=[text], agents=[text])]}


@pytest.mark.parametrize("writer, columns, cells, limit", [
    (write_hosts_csv, HOST_COLUMNS, ("workers", "agents"), None),
    (write_sessions_csv, SESSION_COLUMNS, ("worker", "agent"), None),
    (write_iocs_csv, IOC_COLUMNS, ("indicator",), 512),  # the agent indicator, cut at iocs.VALUE_LIMIT
])
@pytest.mark.parametrize("text, want", [(t, w) for _, t, w in HOSTILE], ids=[i for i, _, _ in HOSTILE])
def test_hostile_cells_read_back_as_one_inert_cell(writer, columns, cells, limit, text, want, tmp_path):
    rows = _read(writer(_hostile_doc(text), tmp_path))
    assert rows[0] == list(columns) and all(len(r) == len(columns) for r in rows)
    if writer is write_iocs_csv:
        rows = [r for r in rows[1:] if r[0] == "agent"]
        want = want[:limit] if not want.startswith("'") else "'" + want[1 : limit + 1]
    else:
        rows = rows[1:]
    assert len(rows) == 1
    for name in cells:
        assert rows[0][columns.index(name)] == want
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in rows[0])


# --------------------------------------------------------------------------- DataFrames


def test_frames_hold_the_rows_the_writers_write():
    doc = json.loads(next(p for p in GOLDEN if p.name.startswith("campus")).read_text("utf-8"))
    hosts = hosts_frame(doc["hosts"])
    assert tuple(hosts.columns) == HOST_COLUMNS and list(hosts.ip) == [h["ip"] for h in doc["hosts"]]
    assert list(hosts.submits) == [h["submits"] for h in doc["hosts"]]
    units = units_frame(doc["units"])
    assert tuple(units.columns) == UNIT_COLUMNS and list(units.mining_ips) == [u["mining_ips"] for u in doc["units"]]
    iocs = iocs_frame(doc)
    assert tuple(iocs.columns) == IOC_COLUMNS
    assert [tuple(r) for r in iocs.astype(object).where(iocs.notna(), None).itertuples(index=False)] == iocs_table(doc).rows


def test_frame_of_an_empty_table_has_the_columns():
    empty = frame(Table(("a", "b"), []))
    assert list(empty.columns) == ["a", "b"] and len(empty) == 0


# --------------------------------------------------------------------------- start-up


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)


def test_commands_start_without_pandas():
    r = _python("import detector.commands.scan, detector.commands.report, sys; assert 'pandas' not in sys.modules")
    assert r.returncode == 0, r.stderr


def test_writing_every_csv_imports_no_pandas(tmp_path):
    doc = copy.deepcopy(json.loads(GOLDEN[0].read_text("utf-8")))
    (tmp_path / "f.json").write_text(json.dumps(doc), "utf-8")
    r = _python(
        "import json, sys\n"
        "from pathlib import Path\n"
        "from detector.output import csvs, iocs, tables\n"
        f"out = Path({str(tmp_path)!r}); doc = json.loads((out / 'f.json').read_text('utf-8'))\n"
        "for w in (tables.write_hosts_csv, tables.write_units_csv, csvs.write_sessions_csv,\n"
        "          csvs.write_subnets_csv, iocs.write_iocs_csv):\n"
        "    w(doc, out)\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "hosts.csv", "iocs.csv", "sessions.csv", "subnets.csv", "units.csv"]
