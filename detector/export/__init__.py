"""Sensor rule files generated from rules/: what ``minesweep rules export`` writes.

    signatures.py      load rules/signatures.toml (protocol signatures, their fixed sids) and the
                       sid allocation for per-domain / per-address rules
    suricata_rules.py  Suricata rules: every protocol signature, TLS SNI and DNS query of every
                       pool domain, pool addresses when rules/pools.toml gives any
    zeek_sig.py        Zeek signatures (``@load-sigs``) for the protocol signatures
    zeek_intel.py      a Zeek Intel framework file: Intel::DOMAIN per pool domain suffix,
                       Intel::ADDR per pool address

Each ``render(...) -> str`` is a pure function of the rules, so the output is byte-identical
for the same rules/ directory.
"""

from __future__ import annotations

__all__ = ["signatures", "suricata_rules", "zeek_intel", "zeek_sig"]
