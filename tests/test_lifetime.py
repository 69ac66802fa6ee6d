"""State left for the end of the process (detector.lifetime): held only where the console script
said the process ends without freeing it, bounded, and the scan's flow table is such state."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

SAMPLE = REPO / "pcaps" / "stratum-btc-ltc-vlan.pcap"


def run_python(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_keep_holds_nothing_unless_the_process_ends_without_freeing():
    out = run_python("""
        import weakref
        from detector import lifetime

        class Thing: pass

        thing = Thing()
        ref = weakref.ref(thing)
        lifetime.keep(thing)
        del thing
        print(ref() is None, lifetime.kept())
    """)
    assert out == "True 0"


def test_keep_holds_until_the_end_after_leave_to_exit_and_is_bounded():
    out = run_python("""
        import weakref
        from detector import lifetime

        class Thing: pass

        lifetime.leave_to_exit()
        lifetime.leave_to_exit()  # twice: still one store, nothing lost
        things = [Thing() for _ in range(lifetime.MAX_KEPT + 3)]
        refs = [weakref.ref(t) for t in things]
        for t in things:
            lifetime.keep(t)
        del things, t
        alive = [r() is not None for r in refs]
        print(lifetime.kept() == lifetime.MAX_KEPT, alive == [True] * lifetime.MAX_KEPT + [False] * 3)
    """)
    assert out == "True True"


def test_a_scan_leaves_its_flow_table_only_to_a_process_that_ends_without_freeing():
    code = """
        from detector import lifetime
        from detector.flows import FlowTable
        from detector.scan import scan
        {setup}
        findings = scan([{sample!r}])
        held = lifetime._kept or []
        print(findings["summary"]["mining_ips"], lifetime.kept(), [type(x).__name__ for x in held])
    """
    plain = run_python(code.format(setup="", sample=str(SAMPLE)))
    ending = run_python(code.format(setup="lifetime.leave_to_exit()", sample=str(SAMPLE)))
    mining = plain.split()[0]
    assert int(mining) > 0
    assert plain == f"{mining} 0 []"
    assert ending == f"{mining} 1 ['FlowTable']"


def test_the_console_script_leaves_state_to_the_end():
    out = run_python("""
        import sys
        from detector import cli, lifetime
        calls = []
        real = lifetime.leave_to_exit
        lifetime.leave_to_exit = lambda: calls.append(1) or real()
        cli.main = lambda: (print(len(calls), lifetime.kept() == 0 and lifetime._kept == []), 0)[1]
        cli.console()
    """)
    assert out == "1 True"
