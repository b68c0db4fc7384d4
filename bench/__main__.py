"""``python -m bench [services|throughput|mesh|l7|edge|security|nat|verify|robustness|all]``."""

from __future__ import annotations

import sys

from bench import edge, l7, mesh, natgateway, robustness, security, service_sync, throughput, verify


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "all"
    if which not in ("services", "throughput", "mesh", "l7", "edge", "security", "nat", "verify", "robustness", "all"):
        print("usage: scripts/bench [services|throughput|mesh|l7|edge|security|nat|verify|robustness|all]",
              file=sys.stderr)
        return 2
    if which in ("services", "all"):
        service_sync.run()
    if which in ("throughput", "all"):
        throughput.run()
    if which in ("mesh", "all"):
        mesh.run()
    if which in ("l7", "all"):
        l7.run()
    if which in ("edge", "all"):
        edge.run()
    if which in ("security", "all"):
        security.run()
    if which in ("nat", "all"):
        natgateway.run()
    if which in ("verify", "all"):
        verify.run()
    if which in ("robustness", "all"):
        robustness.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
