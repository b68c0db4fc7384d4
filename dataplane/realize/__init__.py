"""Realizes a plan in the kernel and removes it again (needs root).

Named ``realize`` rather than ``build``: common tooling and ignore files treat
a ``build/`` directory as generated output.
"""
