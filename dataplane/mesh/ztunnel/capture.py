"""The in-pod captures the agent switches on (ambient, sidecar), as the kernel layer takes them.

The values are the mesh's (``mesh.constants``, ``mesh.redirect``); the kernel
layer only applies them (``kernel.inpod``), so it never imports the mesh.
"""

from __future__ import annotations

from dataplane.kernel.inpod import Capture
from dataplane.mesh.constants import CONNMARK, MARK_MASK, ROUTE_TABLE, RULE_PRIORITY
from dataplane.mesh.redirect import inpod_ruleset, remove_ruleset, sidecar_ruleset

CAPTURE = Capture(
    ruleset=inpod_ruleset(),
    removal=remove_ruleset(),
    table=ROUTE_TABLE,
    priority=RULE_PRIORITY,
    fwmark=CONNMARK,
    mask=MARK_MASK,
)

SIDECAR_CAPTURE = Capture(
    ruleset=sidecar_ruleset(),
    removal=remove_ruleset(),
    table=ROUTE_TABLE,
    priority=RULE_PRIORITY,
    fwmark=CONNMARK,
    mask=MARK_MASK,
)
