"""``python -m bench [services|throughput|mesh|l7|edge|security|nat|verify|robustness|scale [PODS ...]|all]``."""

from __future__ import annotations

import sys

from bench import edge, l7, mesh, natgateway, robustness, scale, security, service_sync, throughput, verify


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "all"
    known = ("services", "throughput", "mesh", "l7", "edge", "security", "nat", "verify", "robustness", "scale", "all")
    sizes = argv[1:] if which == "scale" else []
    if which not in known or not all(s.isdigit() and int(s) > 0 for s in sizes):
        print(f"usage: scripts/bench [{'|'.join(known[:-2])}|scale [PODS ...]|all]", file=sys.stderr)
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
    if which in ("scale", "all"):
        scale.run(tuple(int(s) for s in sizes) or scale.SIZES)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
