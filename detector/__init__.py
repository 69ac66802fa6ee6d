"""minesweep: find cryptocurrency mining in network traffic.

The package is a one-way pipeline; each stage is a module or small package:

    capture/     read pcap / pcapng (plain or gzip) into Packet records
    reassembly   TCP byte streams per direction, bounded line splitting
    dialects/    one module per mining protocol, registered in dialects.REGISTRY
    flows        per-connection lifecycle: feeds streams to dialects, builds Sessions
    estimate     hashrate (work per share, Poisson intervals) and energy
    aggregate    hosts, subnets and the summary
    output/      findings.json, report.md, CSV writers
    commands/    one module per subcommand; cli.py is the only place that maps errors to exit codes
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
