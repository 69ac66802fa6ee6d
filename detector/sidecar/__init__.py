"""The sensor sidecar: mining findings from Zeek logs and Suricata EVE, batch or following live.

    intel.py          pool names (rules/pools.toml) minus the allow-list (rules/allowlist.toml);
                      the sidecar's settings (rules/sidecar.toml)
    decode.py         logged payloads -> the dialect parsers scan uses -> Session
    logs.py           Detector: records -> findings (evidence, confidence); findings_document
    zeek_cmd.py       Zeek records -> Detector; analyze_zeek (batch)
    suricata_cmd.py   EVE events -> Detector; analyze_eve (batch)
    alerts.py         ECS JSON alert lines and the Zeek-style mining.log
    zeek_ascii.py     Zeek TSV / JSON log writing (mining.log, the sample generator)
    live.py           follow mode: Follower -> Detector -> alerts at once, periodic rollups,
                      checkpoint with the detector state
    run.py            options, inputs[] records, report writing, the shared command line

The commands are detector/commands/zeek.py and suricata.py; docs/sidecar.md explains the
evidence, the outputs and how to run beside a sensor.
"""

from __future__ import annotations

__all__ = ["alerts", "decode", "intel", "live", "logs", "run", "suricata_cmd", "zeek_ascii", "zeek_cmd"]
