"""Benchmark of detector.attribution: PrefixMap build and lookups, registry CSV loading.

Run:  cd /work/main && PYTHONPATH=. .venv/bin/python benchmarks/bench_attribution.py
      (--v4 N --v6 N --seed S to change the sizes; defaults 1,000,000 and 100,000)

Input (seeded, generated before timing starts):
  IPv4 prefixes, shaped roughly like a BGP table: 60 % /24, 15 % /22-/23, 15 % /16-/21,
  1 % /8-/15, 9 % /25-/32 (host-level rows as in registries); random networks, so they overlap.
  IPv6 prefixes inside 2000::/3: 50 % /48, 25 % /64, 10 % /32, 10 % /29-/47, 5 % /128.
  Queries are uniformly random addresses (IPv4 over the whole space; IPv6 half inside
  generated prefixes, half random in 2000::/3).

Prints one table: what was timed, how many items, seconds, items per second.
"""

from __future__ import annotations

import argparse
import gc
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.attribution import Attributor, load_categories, load_registry  # noqa: E402
from detector.attribution.prefix import PrefixMap  # noqa: E402

V4_LENGTHS = ([24] * 60 + [22, 23] * 7 + [22] + list(range(16, 22)) * 2 + [16, 17, 18]
              + [8] + [25, 26, 27, 28, 29, 30, 31, 32, 32])


def v4_prefixes(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        length = rng.choice(V4_LENGTHS)
        net = rng.getrandbits(32) >> (32 - length) << (32 - length) if length else 0
        out.append(f"{socket.inet_ntoa(net.to_bytes(4, 'big'))}/{length}")
    return out


def v6_prefixes(n: int, rng: random.Random) -> list[str]:
    lengths = [48] * 10 + [64] * 5 + [32] * 2 + [29, 40] + [128]
    out = []
    for _ in range(n):
        length = rng.choice(lengths)
        addr = (0b001 << 125) | rng.getrandbits(125)
        net = addr >> (128 - length) << (128 - length)
        out.append(f"{socket.inet_ntop(socket.AF_INET6, net.to_bytes(16, 'big'))}/{length}")
    return out


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v4", type=int, default=1_000_000)
    parser.add_argument("--v6", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    v4 = v4_prefixes(args.v4, rng)
    v6 = v6_prefixes(args.v6, rng)
    rows: list[tuple[str, int, float]] = []

    secs, pm = timed(lambda: PrefixMap.build((c, i) for i, c in enumerate(v4 + v6)))
    assert isinstance(pm, PrefixMap)
    rows.append((f"build PrefixMap from CIDR text ({len(pm):,} distinct prefixes)", len(v4) + len(v6), secs))
    secs, _ = timed(lambda: PrefixMap.build((c, i) for i, c in enumerate(v4)))
    rows.append(("build, IPv4 prefixes only", len(v4), secs))
    secs, _ = timed(lambda: PrefixMap.build((c, i) for i, c in enumerate(v6)))
    rows.append(("build, IPv6 prefixes only", len(v6), secs))

    q4_ints = np.frombuffer(np.random.default_rng(args.seed).bytes(4 * 10_000_000), dtype=np.uint32)
    q4 = [socket.inet_ntoa(int(x).to_bytes(4, "big")) for x in q4_ints[:1_000_000]]
    q6 = []
    for n in range(200_000):
        if n % 2:
            base = int.from_bytes(socket.inet_pton(socket.AF_INET6, v6[rng.randrange(len(v6))].split("/")[0]), "big")
            addr = base | rng.getrandbits(16)
        else:
            addr = (0b001 << 125) | rng.getrandbits(125)
        q6.append(socket.inet_ntop(socket.AF_INET6, addr.to_bytes(16, "big")))

    single4 = q4[:300_000]
    secs, _ = timed(lambda: [pm.lookup(ip) for ip in single4])
    rows.append(("lookup(ip) one IPv4 string at a time", len(single4), secs))
    secs, _ = timed(lambda: [pm.lookup(ip) for ip in q6])
    rows.append(("lookup(ip) one IPv6 string at a time", len(q6), secs))
    secs, got4 = timed(lambda: pm.lookup_many(q4))
    rows.append(("lookup_many(IPv4 strings)", len(q4), secs))
    secs, _ = timed(lambda: pm.lookup_many(q6))
    rows.append(("lookup_many(IPv6 strings)", len(q6), secs))
    secs, _ = timed(lambda: pm.index_ipv4(q4_ints))
    rows.append(("index_ipv4(numpy uint32 array)", len(q4_ints), secs))
    assert got4[:1000] == [pm.lookup(ip) for ip in q4[:1000]]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "units.csv"
        cats = load_categories()
        names = ["government", "education", "research", "soe", "healthcare", "enterprise"]
        with open(path, "w", encoding="utf-8") as f:
            f.write("cidr,unit,category,region\n")
            for n, cidr in enumerate(dict.fromkeys(v4[:100_000] + v6[:20_000])):
                f.write(f"{cidr},Unit {n % 5000},{names[n % len(names)]},Region {n % 13}\n")
        secs, reg = timed(lambda: load_registry(path, cats))
        rows.append(("load_registry(CSV)", len(reg.entries), secs))  # type: ignore[attr-defined]
        secs, attributor = timed(lambda: Attributor(cats, registries=[reg]))  # type: ignore[list-item]
        rows.append(("Attributor(...) from that registry", len(reg.entries), secs))  # type: ignore[attr-defined]
        sample = q4[:100_000] + q6[:20_000]
        secs, _ = timed(lambda: attributor.attribute_many(sample))  # type: ignore[attr-defined]
        rows.append(("Attributor.attribute_many (registry only)", len(sample), secs))

    v4_int, v6_int = pm.interval_counts
    print(f"PrefixMap: {v4_int:,} IPv4 and {v6_int:,} IPv6 intervals after flattening; "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")
    width = max(len(r[0]) for r in rows)
    print(f"{'operation':<{width}}  {'items':>11}  {'seconds':>8}  {'items/s':>12}")
    for name, items, secs in rows:
        print(f"{name:<{width}}  {items:>11,}  {secs:>8.3f}  {items / secs:>12,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
