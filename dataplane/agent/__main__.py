"""``python -m dataplane.agent --state-dir DIR --node NODE``: run one node's agent."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from dataplane.agent.daemon import Agent, AgentError

log = logging.getLogger("dataplane.agent")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dataplane.agent", description="Serve every pod of one node, as described by DIR/plan.json."
    )
    parser.add_argument("--state-dir", required=True, type=Path, help="the emulation's state directory")
    parser.add_argument("--node", required=True, help="the node whose pods this agent serves")
    parser.add_argument("--verbose", action="store_true", help="also log every accepted connection")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=f"%(asctime)s agent[{args.node}] %(levelname)s %(message)s",
    )
    try:
        return asyncio.run(Agent(args.state_dir, args.node).run())
    except AgentError as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
