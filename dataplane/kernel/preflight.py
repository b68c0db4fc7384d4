"""Does this machine have what dpctl needs?  The checks behind ``dpctl doctor``
and the refusal ``dpctl up`` prints before it builds anything.

A missing tool or kernel feature otherwise surfaces half-way through a build
as an nft diagnostic or a netlink errno; here each one is found up front,
named, and given the command that fixes it.

Kernel features are probed for real (``featureprobes.py``), never guessed
from version numbers or module lists (modules are loaded on demand and may be
built in): a network namespace of the probe's own (``dp-.doctor-<pid>-<hex>``: an empty topology
name, so it can never be an emulation's and ``down`` never sweeps it) gets a
veth pair, a bridge and a VXLAN device, every nft expression dpctl's rulesets
use in one ``nft -f`` transaction, a connection through a ``redirect to
:port`` rule, a ``conntrack -L`` and an ``IP_TRANSPARENT`` socket.  Nothing is
added to the host's namespace, and the probe namespace is removed afterwards,
also on Ctrl-C (a ``kill -9`` leaves it to the next run, which removes the
namespaces of doctor processes that no longer exist).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from dataplane.kernel import netns
from dataplane.kernel.featureprobes import probe_inside
from dataplane.kernel.machinecheck import MISSING, OK, SKIPPED, WARNING, Check

PROBE_PREFIX = "dp-.doctor-"
REFUSAL_HEADER = "this machine lacks what dpctl needs (see 'dpctl doctor'):"
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
ROOT_ONLY = "needs root"
SUDO_DOCTOR = "run 'sudo dpctl doctor' to probe it"

def run_checks(include_probes: bool = True) -> list[Check]:
    """Every machine check, in the order a user fixes them: root, tools,
    ``/run/netns``, then (with ``include_probes``) the kernel probes, which need
    root and are reported ``skipped`` without it."""
    tools = [tool_check(tool) for tool in TOOLS]
    checks = [root_check(os.geteuid()), *tools, run_netns_check(_read("/proc/self/mountinfo"))]
    if include_probes:
        present = {check.name for check in tools if check.status == OK}
        checks.extend(kernel_checks(present) if os.geteuid() == 0 else skipped(PROBES, ROOT_ONLY, SUDO_DOCTOR))
    return checks


def required_failures(checks: list[Check]) -> list[Check]:
    """The checks that make dpctl refuse to build: required and missing."""
    return [check for check in checks if check.required and check.status == MISSING]


def refusal(checks: list[Check]) -> str:
    """What ``dpctl up`` prints when required items are missing (empty when none is):
    a header, then ``  <name>: <found>; fix: <remedy>`` per item."""
    failures = required_failures(checks)
    if not failures:
        return ""
    return "\n".join([REFUSAL_HEADER, *(f"  {c.name}: {c.found}; fix: {c.remedy}" for c in failures)])


def skipped(names: tuple[str, ...], why: str, remedy: str) -> list[Check]:
    return [Check(name, SKIPPED, why, remedy) for name in names]


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


# -- root and tools ----------------------------------------------------------


def root_check(euid: int) -> Check:
    if euid == 0:
        return Check("root", OK, "euid 0")
    return Check("root", MISSING, f"euid {euid}", "run dpctl as root (sudo dpctl ...)")


@dataclass(frozen=True)
class Tool:
    command: str
    package: str  # the Debian / Ubuntu package that ships it
    purpose: str
    required: bool = True


TOOLS = (
    Tool("ip", "iproute2", "runs agents and commands inside namespaces (ip netns exec)"),
    Tool("nft", "nftables", "programs every Service ruleset"),
    Tool("nsenter", "util-linux", "runs nft and conntrack inside a namespace"),
    Tool("conntrack", "conntrack", "deletes stale UDP flows when endpoints go"),
    Tool("tcpdump", "tcpdump", "the test suite's capture comparisons need it", required=False),
    Tool("iperf3", "iperf3", "scripts/bench needs it", required=False),
)


def tool_check(tool: Tool) -> Check:
    """Found on PATH, as dpctl runs it.  A user's PATH on Debian lacks the sbin
    directories that root's (and sudo's secure_path) has, so without root a
    tool found there counts as present."""
    where = shutil.which(tool.command)
    if where is None and os.geteuid() != 0:
        where = next((f"{d}/{tool.command}" for d in SBIN if os.access(f"{d}/{tool.command}", os.X_OK)), None)
        if where is not None:
            where += " (on root's PATH, not this user's)"
    if where is not None:
        return Check(tool.command, OK, where, required=tool.required)
    status = MISSING if tool.required else WARNING
    return Check(
        tool.command, status, f"not on PATH ({tool.purpose})", f"apt-get install {tool.package}", tool.required
    )


# -- /run/netns --------------------------------------------------------------


def run_netns_check(mountinfo: str) -> Check:
    """Whether ``/run/netns`` is a shared mount point (``mountinfo``: the text of
    ``/proc/self/mountinfo``).  Node agents live in mount namespaces of their
    own, and only a shared ``/run/netns`` propagates namespaces made after they
    started into them.  dpctl makes it shared itself before its first
    namespace, as ``ip netns add`` does, so this is a note, never a failure."""
    optional = _mount_options(mountinfo, netns.RUN_NETNS)
    if optional is None:
        found = "not a mount point yet; dpctl bind-mounts it onto itself and marks it shared before its first namespace"
    elif any(field.startswith("shared:") for field in optional):
        found = "a shared mount point"
    else:
        found = "a mount point, not shared; dpctl marks it shared before its first namespace"
    return Check(netns.RUN_NETNS, OK, found, required=False)


def _mount_options(mountinfo: str, mount_point: str) -> list[str] | None:
    """The optional fields (``shared:N``, ``master:N``, ...) of the topmost mount
    at ``mount_point``, or None when nothing is mounted there."""
    found = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 6 and "-" in fields[6:] and fields[4] == mount_point:
            found = fields[6 : fields.index("-", 6)]
    return found


# -- kernel probes -----------------------------------------------------------

PROBES = ("network namespaces", "veth", "bridge", "vxlan", "nf_tables", "redirect", "conntrack -L", "IP_TRANSPARENT")


def kernel_checks(tools: set[str]) -> list[Check]:
    """Every kernel probe, inside a namespace made for them and always removed;
    ``tools`` are the commands found on PATH (nft and conntrack probes need them)."""
    _remove_stale_probes()
    name = probe_name()
    try:
        try:
            with _interrupts_held():
                netns.create(name)
        except OSError as exc:
            return [
                _no_namespaces(exc),
                *skipped(PROBES[1:], "needs a network namespace", "fix network namespaces first"),
            ]
        return [Check(PROBES[0], OK, "made one (unshare CLONE_NEWNET)"), *probe_inside(name, tools)]
    finally:
        with _interrupts_held():
            netns.delete(name)


def probe_name() -> str:
    """``dp-.doctor-<pid>-<hex>``: unique, and never an emulation's (its topology name would be empty)."""
    return f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"


def _no_namespaces(exc: OSError) -> Check:
    remedy = "the kernel needs CONFIG_NET_NS, and dpctl CAP_SYS_ADMIN (use a VM or a privileged container)"
    return Check(PROBES[0], MISSING, f"cannot make one: {exc.strerror or exc}", remedy)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C while a namespace is made or removed.

    ``netns.create`` waits for a thread that mounts the namespace; an interrupt
    during that wait would leave the mount behind, unknown to the ``finally``
    that removes it.  The held interrupt is delivered right after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(signal.SIGINT, None)


def _remove_stale_probes() -> None:
    """Remove probe namespaces of doctor processes that are gone (killed with -9)."""
    for name in netns.list_names(PROBE_PREFIX):
        pid = name[len(PROBE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with _interrupts_held():
                netns.delete(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True
