"""Generate rules/labeled_hosts.csv: a SYNTHETIC labeled set of mining hosts for `minesweep train`.

Every row is drawn from one of the archetypes below (botnet XMRig servers, hijacked web
servers, scanning worms, GPU labs, ASICs in state-owned enterprises, office CPU mining, home
miners, private farms, ambiguous cases), built from the signals of BRIEF §4 - not from field
data. The archetype decides the label; about 4 % of labels are then flipped at random (label
noise, marked in the `label_noise` column). rules/labeled_hosts.md says what this means for the
cross-validation figures.

Each host is built as a detector.verdict.HostFeatures record and turned into the model's feature
vector by detector.model.feature_vector with the rules in rules/verdict.toml, so the CSV must be
regenerated when the signal parameters there change:

    cd <checkout> && PYTHONPATH=. .venv/bin/python rules/make_labeled_hosts.py [--seed 2021] [--out PATH]

The output depends only on the seed and the rules (tests/test_model.py checks that regenerating
reproduces the shipped file).
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import string
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from detector.model import FEATURE_NAMES, feature_vector  # noqa: E402
from detector.verdict import Download, HostFeatures, VerdictRules, load_verdict_rules  # noqa: E402

DEFAULT_SEED = 2021
DEFAULT_OUT = HERE / "labeled_hosts.csv"
NOISE_RATE = 0.04
T0 = 1_625_000_000.0  # 2021-06-29, the time of the sweeps

PUBLIC = ("government", "education", "research", "soe", "healthcare")
PRIVATE = ("enterprise", "residential", "hosting")
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

Archetype = Callable[[random.Random, int], tuple[HostFeatures, str]]


# ---------------------------------------------------------------------------- building blocks


def _unit(rng: random.Random, category: str) -> str:
    return f"{category}-unit-{rng.randrange(1, 400):03d}"


def _owner(rng: random.Random, categories: Sequence[str]) -> dict[str, object]:
    category = rng.choice(categories)
    registry = rng.random() < 0.6
    if category == "residential":
        conf = 0.3
    else:
        conf = 0.95 if registry else round(rng.uniform(0.3, 0.7), 2)
    return {"unit": _unit(rng, category), "category": category,
            "public_institution": category in PUBLIC, "attribution_confidence": conf}


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _xmr_wallet(rng: random.Random) -> str:
    return "4" + rng.choice("0123456789AB") + "".join(rng.choice(B58) for _ in range(93))


def _eth_wallet(rng: random.Random) -> str:
    return "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40))


def _btc_account(rng: random.Random) -> str:
    return "acct" + "".join(rng.choice(string.ascii_lowercase) for _ in range(6))


def _other_units(rng: random.Random, n: int) -> tuple[str, ...]:
    return tuple(_unit(rng, rng.choice(PUBLIC + PRIVATE)) for _ in range(n))


def _bot_worker(rng: random.Random) -> tuple[str, ...]:
    pick = rng.random()
    if pick < 0.3:
        return ()
    if pick < 0.55:
        return ("x",)
    if pick < 0.8:
        return ("".join(rng.choice("0123456789abcdef") for _ in range(12)),)
    return (f"ip-10-{rng.randrange(256)}-{rng.randrange(256)}-{rng.randrange(256)}",)


def _xmrig_agent(rng: random.Random) -> str:
    v = f"6.{rng.randrange(10, 22)}.{rng.randrange(0, 3)}"
    os_ = rng.choice(["Linux x86_64", "Windows NT 10.0; Win64; x64"])
    return f"XMRig/{v} ({os_}) libuv/1.44.2 gcc/12.2.0"


def _downloads(rng: random.Random, start: float, p_script: float, p_elf: float) -> tuple[Download, ...]:
    out = []
    server = f"198.51.100.{rng.randrange(1, 255)}"
    if rng.random() < p_script:
        out.append(Download("script", f"http://{server}/{rng.choice(['x.sh', 'ldr.sh', 'init.ps1'])}",
                            start - rng.uniform(30, 1800)))
    if rng.random() < p_elf:
        kind = rng.choice(["elf", "elf", "pe", "archive"])
        out.append(Download(kind, f"http://{server}/{rng.choice(['kdevtmpfsi', 'xm64', 'sys.tar.gz'])}",
                            start - rng.uniform(10, 1200)))
    return tuple(out)


def _cpu_algo(rng: random.Random) -> str:
    return rng.choices(["randomx", "cryptonight", "ghostrider", "argon2/chukwa"], [85, 7, 5, 3])[0]


GPU_SOFTWARE = ("PhoenixMiner/5.5c", "NBMiner/39.5", "T-Rex/0.26.8", "lolMiner 1.48", "GMiner/3.41",
                "TeamRedMiner/0.10.4", "ethminer/0.19.0")
GPU_ALGOS = {"ethash": 5e7, "etchash": 5e7, "kawpow": 2e7, "autolykos2": 1e8}


def _gpu_rig(rng: random.Random, below_share: float) -> dict[str, object]:
    algo = rng.choice(list(GPU_ALGOS))
    factor = rng.uniform(0.2, 0.9) if rng.random() < below_share else rng.uniform(1.0, 10.0)
    return {"algorithms": (algo,), "main_algorithm": algo, "hashrate_hps": GPU_ALGOS[algo] * factor,
            "agents": (rng.choice(GPU_SOFTWARE),) if rng.random() < 0.85 else (),
            "wallets": (_eth_wallet(rng),), "server_ports": (rng.choice([4444, 5555, 14444, 3333]),)}


def _named(rng: random.Random, prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}-{rng.randrange(1, 40)}" for _ in range(rng.randrange(1, 3)))


def _host(rng: random.Random, owner: dict[str, object], **fields: object) -> HostFeatures:
    start = fields.pop("first_seen", T0 + rng.uniform(0, 86400))
    assert isinstance(start, float)
    sessions = fields.pop("sessions", rng.randrange(1, 6))
    return HostFeatures(ip=_ip(rng), first_seen=start, last_seen=start + rng.uniform(600, 86400),
                        sessions=sessions, **owner, **fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- archetypes


def botnet_xmrig_server(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """A server in any kind of unit recruited into a Monero botnet."""
    start = T0 + rng.uniform(0, 86400)
    algo = _cpu_algo(rng)
    sessions = rng.randrange(1, 5)
    disguised = rng.random() < 0.4
    return _host(
        rng, _owner(rng, PUBLIC + PRIVATE), first_seen=start, sessions=sessions,
        algorithms=(algo,), main_algorithm=algo, hashrate_hps=rng.uniform(500, 30000),
        agents=(_xmrig_agent(rng),) if rng.random() < 0.8 else (("xmr-stak/2.10.8",) if rng.random() < 0.3 else ()),
        workers=_bot_worker(rng), wallets=(_xmr_wallet(rng),),
        server_ports=(rng.choice([443, 80, 8080, 25]),) if disguised else (rng.choice([3333, 5555, 14444, 10001]),),
        encrypted_sessions=sessions if rng.random() < 0.25 else 0,
        inbound_peers=rng.randrange(15, 3000) if rng.random() < 0.6 else rng.randrange(0, 4),
        inbound_ports=(rng.choice([22, 80, 443, 3306, 6379]),),
        scanned_by=rng.randrange(0, 5),
        outbound_scan_targets=rng.randrange(50, 20000) if rng.random() < 0.35 else 0,
        outbound_scan_ports=(22, 6379, 2375),
        downloads=_downloads(rng, start, 0.45, 0.4),
        pool_dns_names=("xyz3kq.onion.to",) if rng.random() < 0.05 else (("pool.supportxmr.com",) if rng.random() < 0.6 else ()),
        shared_wallet_units=_other_units(rng, rng.randrange(1, 7)) if rng.random() < 0.7 else (),
        farm_size=rng.randrange(1, 6),
    ), "compromised"


def hijacked_web_server(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """A web server exploited through its application, then used to mine."""
    start = T0 + rng.uniform(0, 86400)
    sessions = rng.randrange(1, 4)
    tls_only = rng.random() < 0.3
    algo = "" if tls_only else _cpu_algo(rng)
    return _host(
        rng, _owner(rng, PUBLIC + ("enterprise", "hosting")), first_seen=start, sessions=sessions,
        algorithms=(algo,) if algo else (), main_algorithm=algo,
        hashrate_hps=None if tls_only else rng.uniform(800, 20000),
        agents=() if tls_only else ((_xmrig_agent(rng),) if rng.random() < 0.7 else ()),
        workers=() if tls_only else _bot_worker(rng), wallets=() if tls_only else (_xmr_wallet(rng),),
        server_ports=(443,) if tls_only else (rng.choice([3333, 443, 80, 5555]),),
        encrypted_sessions=sessions if tls_only else 0,
        inbound_peers=rng.randrange(50, 5000), inbound_ports=(80, 443),
        scanned_by=rng.randrange(1, 9),
        downloads=_downloads(rng, start, 0.8, 0.7),
        pool_dns_names=("gulf.moneroocean.stream",) if rng.random() < 0.5 else (),
        pool_sni=("pool.supportxmr.com",) if tls_only else (),
        shared_wallet_units=_other_units(rng, rng.randrange(1, 4)) if rng.random() < 0.4 else (),
        farm_size=1,
    ), "compromised"


def worm_scanner(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """A host infected by a mining worm that now scans for the next victims."""
    start = T0 + rng.uniform(0, 86400)
    return _host(
        rng, _owner(rng, PUBLIC + PRIVATE), first_seen=start,
        algorithms=("randomx",), main_algorithm="randomx", hashrate_hps=rng.uniform(500, 15000),
        agents=(_xmrig_agent(rng),) if rng.random() < 0.85 else (),
        workers=_bot_worker(rng), wallets=(_xmr_wallet(rng),),
        server_ports=(rng.choice([3333, 5555, 443, 80]),),
        inbound_peers=rng.randrange(0, 20), inbound_ports=(22,),
        scanned_by=rng.randrange(0, 4),
        outbound_scan_targets=rng.randrange(200, 50000), outbound_scan_ports=(22, 2375, 6379, 445),
        downloads=_downloads(rng, start, 0.5, 0.5),
        shared_wallet_units=_other_units(rng, rng.randrange(1, 9)) if rng.random() < 0.6 else (),
        farm_size=rng.randrange(1, 10),
    ), "compromised"


def gpu_lab(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """GPUs of a university or research lab mining Ethash-family coins."""
    owner = _owner(rng, ("education", "research"))
    sessions = rng.randrange(1, 4)
    return _host(
        rng, owner, sessions=sessions, **_gpu_rig(rng, 0.15),
        workers=_named(rng, rng.choice(["lab-gpu", "dl-node", "rig"])),
        encrypted_sessions=sessions if rng.random() < 0.2 else 0,
        inbound_peers=rng.randrange(0, 5), inbound_ports=(22,),
        scanned_by=rng.randrange(0, 3),
        pool_dns_names=(rng.choice(["eth.f2pool.com", "asia1.ethermine.org", "rvn.2miners.com"]),),
        farm_size=rng.randrange(1, 13),
    ), "institution_misuse"


def asic_soe(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """ASIC miners installed in a state-owned enterprise or agency (Bitcoin / Litecoin)."""
    owner = _owner(rng, ("soe", "government"))
    sha = rng.random() < 0.7
    algo = "sha256d" if sha else "scrypt"
    rate = rng.uniform(13e12, 200e12) if sha else rng.uniform(0.5e9, 16e9)
    agent = rng.choice(["bmminer/2.0.0", "cgminer/4.9.0", "btminer/1.0"]) if sha else "cgminer/4.10.0"
    return _host(
        rng, owner, algorithms=(algo,), main_algorithm=algo, hashrate_hps=rate,
        agents=(agent,) if rng.random() < 0.9 else (), logins=(_btc_account(rng),),
        workers=_named(rng, rng.choice(["s19-row", "l7-rack", "miner"])),
        server_ports=(rng.choice([3333, 1314, 25, 443]) if rng.random() < 0.1 else rng.choice([3333, 1800, 8888]),),
        scanned_by=rng.randrange(0, 2),
        pool_dns_names=(rng.choice(["btc.f2pool.com", "stratum.antpool.com", "ltc.viabtc.com"]),),
        farm_size=rng.randrange(2, 41),
    ), "institution_misuse"


def office_cpu_misuse(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """An employee running XMRig on an office PC of a public institution."""
    owner = _owner(rng, ("government", "education", "healthcare"))
    return _host(
        rng, owner, algorithms=("randomx",), main_algorithm="randomx", hashrate_hps=rng.uniform(1000, 8000),
        agents=(_xmrig_agent(rng),) if rng.random() < 0.9 else (),
        workers=_named(rng, rng.choice(["zhang-pc", "office", "desk"])) if rng.random() < 0.6 else ("x",),
        wallets=(_xmr_wallet(rng),), server_ports=(rng.choice([3333, 10001, 14444]),),
        scanned_by=rng.randrange(0, 2),
        pool_dns_names=("pool.supportxmr.com",) if rng.random() < 0.5 else (),
        farm_size=rng.randrange(1, 4),
    ), "institution_misuse"


def home_gpu(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """A home GPU rig on a residential line."""
    sessions = rng.randrange(1, 3)
    return _host(
        rng, _owner(rng, ("residential",)), sessions=sessions, **_gpu_rig(rng, 0.3),
        workers=_named(rng, rng.choice(["home", "rig", "garage"])) if rng.random() < 0.8 else (),
        encrypted_sessions=sessions if rng.random() < 0.2 else 0,
        scanned_by=rng.randrange(0, 3),
        pool_dns_names=(rng.choice(["asia1.ethermine.org", "rvn.2miners.com", "erg.herominers.com"]),),
    ), "private"


def home_cpu(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """A home PC mining Monero with XMRig."""
    return _host(
        rng, _owner(rng, ("residential",)), algorithms=("randomx",), main_algorithm="randomx",
        hashrate_hps=rng.uniform(1000, 15000), agents=(_xmrig_agent(rng),),
        workers=_named(rng, "home") if rng.random() < 0.5 else ("x",), wallets=(_xmr_wallet(rng),),
        server_ports=(rng.choice([3333, 10001, 443]),), scanned_by=rng.randrange(0, 3),
        farm_size=1,
    ), "private"


def private_farm(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """A company's or hosting customer's mining farm: many rigs on one account."""
    owner = _owner(rng, ("enterprise", "hosting", "residential"))
    if rng.random() < 0.5:
        fields: dict[str, object] = {
            "algorithms": ("sha256d",), "main_algorithm": "sha256d", "hashrate_hps": rng.uniform(13e12, 200e12),
            "agents": (rng.choice(["bmminer/2.0.0", "cgminer/4.9.0"]),), "logins": (_btc_account(rng),),
            "server_ports": (rng.choice([3333, 1800]),)}
    else:
        fields = _gpu_rig(rng, 0.1)
    return _host(rng, owner, **fields, workers=_named(rng, rng.choice(["farm", "rack", "rig"])),
                 scanned_by=rng.randrange(0, 3), farm_size=rng.randrange(5, 61)), "private"


def xmrig_lab_farm(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """AMBIGUOUS: XMRig on many lab PCs of one university on one wallet, named workers."""
    label = "institution_misuse" if rng.random() < 0.7 else "compromised"
    return _host(
        rng, _owner(rng, ("education",)), algorithms=("randomx",), main_algorithm="randomx",
        hashrate_hps=rng.uniform(2000, 12000), agents=(_xmrig_agent(rng),),
        workers=_named(rng, "lab"), wallets=(_xmr_wallet(rng),), server_ports=(rng.choice([3333, 443]),),
        scanned_by=rng.randrange(0, 3), farm_size=rng.randrange(3, 16),
    ), label


def gpu_on_exposed_server(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """AMBIGUOUS: a GPU rig that also serves a few clients, reached over TLS, being scanned."""
    owner = _owner(rng, ("research", "education", "enterprise"))
    sessions = rng.randrange(1, 4)
    split = "institution_misuse" if owner["public_institution"] else "private"
    label = split if rng.random() < 0.75 else "compromised"
    return _host(
        rng, owner, sessions=sessions, **_gpu_rig(rng, 0.3), workers=_named(rng, "gpu"),
        encrypted_sessions=sessions, inbound_peers=rng.randrange(10, 60), inbound_ports=(22, 443),
        scanned_by=rng.randrange(1, 4), pool_sni=("eu1.ethermine.org",),
    ), label


def unknown_owner(rng: random.Random, i: int) -> tuple[HostFeatures, str]:
    """An address no registry or ASN database knows, mining without signs of compromise."""
    owner = {"unit": None, "category": "unknown", "public_institution": False, "attribution_confidence": 0.0}
    fields = _gpu_rig(rng, 0.5) if rng.random() < 0.5 else {
        "algorithms": ("randomx",), "main_algorithm": "randomx", "hashrate_hps": rng.uniform(500, 9000),
        "wallets": (_xmr_wallet(rng),), "server_ports": (3333,)}
    return _host(rng, owner, **fields, scanned_by=rng.randrange(0, 2)), "private"


ARCHETYPES: tuple[tuple[Archetype, int], ...] = (
    (botnet_xmrig_server, 40), (hijacked_web_server, 30), (worm_scanner, 20),
    (gpu_lab, 35), (asic_soe, 25), (office_cpu_misuse, 20),
    (home_gpu, 30), (home_cpu, 15), (private_farm, 20),
    (xmrig_lab_farm, 12), (gpu_on_exposed_server, 10), (unknown_owner, 8),
)


# ---------------------------------------------------------------------------- output


def build_rows(seed: int = DEFAULT_SEED, rules: VerdictRules | None = None) -> list[dict[str, str]]:
    """The labeled rows, in archetype order: id, archetype, label_noise, features, verdict."""
    rng = random.Random(seed)
    rules = rules if rules is not None else load_verdict_rules(HERE / "verdict.toml")
    labels = ("compromised", "institution_misuse", "private")
    rows = []
    for archetype, count in ARCHETYPES:
        for i in range(count):
            host, label = archetype(rng, i)
            noisy = rng.random() < NOISE_RATE
            if noisy:
                label = rng.choice([c for c in labels if c != label])
            row = {"id": f"h{len(rows) + 1:03d}", "archetype": archetype.__name__, "label_noise": str(int(noisy))}
            row.update({name: _fmt(v) for name, v in zip(FEATURE_NAMES, feature_vector(host, rules), strict=True)})
            row["verdict"] = label
            rows.append(row)
    return rows


def _fmt(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def render(rows: Sequence[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["id", "archetype", "label_noise", *FEATURE_NAMES, "verdict"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = build_rows(args.seed)
    args.out.write_text(render(rows), "utf-8")
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
