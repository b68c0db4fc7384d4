"""The per-node agent: one process per node serving every pod on it.

Run as ``python -m dataplane.agent --state-dir DIR --node NODE``.  It reads
``DIR/plan.json``, opens each pod's declared ports inside the pod's network
namespace, serves them all with the built-in responders from one asyncio
event loop, and starts the containers' commands.  It reports through
``DIR/agents/NODE.ready`` (``ready.py``), logs to stderr, writes command
output to ``DIR/logs/<namespace>.<pod>.<container>.log``, reloads the plan on
SIGHUP and stops everything on SIGTERM/SIGINT.
"""
