"""``dpctl verify``: check the running data plane with real packets.

Each check sends real traffic inside the emulation and compares what happens
with what the plan says should happen; exit code 1 when any result is
unexpected.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from dataplane.cli.context import print_json, require_root, running_plan, topology_option
from dataplane.state import reports
from dataplane.state.layout import evidence_dir
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan
from dataplane.verify.checks import CHECKS, DEFAULT_CHECKS, run_checks
from dataplane.verify.evidence import Evidence, run_directory
from dataplane.verify.result import FAILED, SKIPPED, Report


def run_with_progress(plan: Plan, names: tuple[str, ...], evidence: Evidence, show_progress: bool = True) -> Report:
    """``checks.run_checks`` with a progress bar per check on stderr (hidden once it is done)."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not show_progress,
    ) as bar:
        tasks: list[TaskID] = []

        def progress_of(name: str) -> Callable[[int, int], None]:
            for done in tasks:
                bar.update(done, visible=False)
            task = bar.add_task(name, total=None)
            tasks.append(task)
            return lambda done, total: bar.update(task, completed=done, total=total)

        return run_checks(plan, names, progress_of, evidence)


def _matrix(report: Report, check: str) -> Table | None:
    results = [r for r in report.of(check) if r.source and r.destination]
    if not results:
        return None
    sources = list(dict.fromkeys(r.source for r in results))
    columns = list(dict.fromkeys(r.destination for r in results))
    cells = {(r.source, r.destination): r for r in results}
    from dataplane.verify.checks.policy import matrix_cell as cell

    title = (
        f"{check}: rows = sources, columns = destination:port, cells = expected/observed (A allow, D deny)"
        if check == "policy" else f"{check}: rows = sources, columns = destinations"
    )
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("source \\ destination", no_wrap=True)
    for i, _ in enumerate(columns, 1):
        table.add_column(str(i), justify="center", no_wrap=True, min_width=len(str(i)))
    for src in sources:
        row = [src]
        for dst in columns:
            r = cells.get((src, dst))
            if r is None:
                row.append("")
            elif check == "policy":
                row.append(("[green]" if r.ok else "[red]") + cell(r) + "[/]")
            else:
                row.append("[green]✓[/]" if r.ok else "[red]✗[/]")
        table.add_row(*row)
    table.caption = "  ".join(f"{i}={d}" for i, d in enumerate(columns, 1))
    return table


def print_report(report: Report) -> None:
    console = Console(width=4096, soft_wrap=True)
    for name in report.checks:
        if name in ("connectivity", "policy"):
            table = _matrix(report, name)
            if table is not None:
                console.print(table)
        else:
            for r in report.of(name):
                mark = "[yellow]-[/]" if r.skipped else "[green]✓[/]" if r.ok else "[red]✗[/]"
                console.print(f"{mark} {name}: {r.subject}" + (f" — {r.reason}" if r.reason and (r.skipped or not r.ok) else ""))
                if name == "l7" and r.evidence and not r.skipped:  # the counts behind a share are the result
                    console.print(f"    [dim]{escape(r.evidence)}[/]")
    failures = report.failures
    if failures:
        console.print(f"\n[bold red]{len(failures)} unexpected result(s):[/]")
        for r in failures:
            console.print(f"  ✗ {r.check}: {r.subject}: {r.reason}" + (f" [{r.evidence}]" if r.evidence else ""))
        captures = [r.capture for r in failures if r.capture]
        if captures:
            folder = os.path.dirname(os.path.dirname(captures[0]))
            console.print(f"\nevidence: {len(captures)} capture(s) of the frames behind the failures in {folder}")
    console.print()
    for name in report.checks:
        t = report.totals(name)
        state = "skipped" if t[SKIPPED] == t["total"] else "FAILED" if t[FAILED] else "passed"
        console.print(
            f"{name}: {state} — {t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped "
            f"({report.seconds.get(name, 0.0):.1f}s)"
        )


def junit(report: Report) -> str:
    total = report.totals()
    suites = ET.Element("testsuites", tests=str(total["total"]), failures=str(total[FAILED]), skipped=str(total[SKIPPED]))
    for name in report.checks:
        t = report.totals(name)
        suite = ET.SubElement(
            suites, "testsuite", name=f"dpctl.verify.{name}", tests=str(t["total"]), failures=str(t[FAILED]),
            skipped=str(t[SKIPPED]), errors="0", time=f"{report.seconds.get(name, 0.0):.3f}",
        )
        for r in report.of(name):
            case = ET.SubElement(suite, "testcase", classname=f"dpctl.verify.{name}", name=r.subject, time=f"{r.seconds:.3f}")
            if r.skipped:
                ET.SubElement(case, "skipped", message=r.reason)
            elif not r.ok:
                failure = ET.SubElement(case, "failure", message=r.reason)
                failure.text = r.evidence
                if r.capture:  # the attachment convention Jenkins' and GitLab's JUnit readers follow
                    ET.SubElement(case, "system-out").text = f"[[ATTACHMENT|{r.capture}]]"
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


@click.command("verify")
@topology_option
@click.option("--only", type=click.Choice(CHECKS), multiple=True, help="Run only this check (repeatable).")
@click.option("-o", "--output", type=click.Choice(["table", "json", "junit"]), default="table", show_default=True)
@click.option(
    "--evidence", "evidence_root", metavar="DIR", type=click.Path(file_okay=False),
    help="Write a pcapng of the frames behind each failed result under DIR "
    "(default: the emulation's state directory, evidence/).",
)
@click.option("--no-evidence", is_flag=True, help="Keep no capture of failures.")
def command(topology: str | None, only: tuple[str, ...], output: str, evidence_root: str | None, no_evidence: bool) -> None:
    """Check the running data plane with real packets; exit 1 on any unexpected result.

    \b
    connectivity  every pod to every Service port and every other pod; the outside
                  client to every NodePort and LoadBalancer VIP
    encryption    meshed pods on different nodes: no plaintext canary on any node
                  interface, only TLS on 15008 between them
    policy        meshed pods with AuthorizationPolicies: every source pod to each of
                  their TCP ports, allow/deny compared with the policies
    dnat          every TCP Service port, with crafted SYNs: VIP (node IP:nodePort, LB
                  VIP) as the client sends it, endpoint IP:targetPort and the kept or
                  masqueraded source where it arrives, the VIP again on the SYN-ACK
    path          a few flows per node pair (pod->pod, pod->ClusterIP, outside->
                  NodePort/LB, a meshed pair as HBONE): every interface they cross,
                  in order, with the addresses at each hop, as the plan wires it
    l7            every HTTPRoute/VirtualService rule of a Service bound to a waypoint:
                  a request it takes, sent enough times from an ambient pod to judge
                  each backend's weight and abort percentage (exact binomial test);
                  each L7 AuthorizationPolicy: a request it allows and one it denies
    edge          every ALB listener rule and default, from the outside client on
                  each zone's node: the certificate SNI picks (HTTPS), the status or
                  redirect, the pod that answers, its TCP peer and X-Forwarded-*
    Without --only: connectivity, dnat, encryption, path and edge.

    Each failed result gets a pcapng of the frames its check saw for it (a
    failed connectivity or policy probe is retried once under capture), named
    in the report, in JSON as "capture" and in JUnit as an attachment.
    """
    require_root("dpctl verify")
    plan = running_plan(topology)
    names = tuple(dict.fromkeys(only)) or DEFAULT_CHECKS
    root = evidence_root or str(evidence_dir(StateDir(plan.name).path))
    evidence = Evidence(None if no_evidence else run_directory(root))
    report = run_with_progress(plan, names, evidence, show_progress=sys.stderr.isatty())
    reports.save_verify(StateDir(plan.name).path, report.as_dict())  # for dpctl ui
    if output == "json":
        print_json(report.as_dict())
    elif output == "junit":
        click.echo(junit(report))
    else:
        print_report(report)
    if not report.ok:
        sys.exit(1)
