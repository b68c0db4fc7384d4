"""An emulation's state on disk (``<state root>/<name>/``) and the lock that serialises its changes.

Pure file handling, no kernel: the name rules that keep every path inside
the state root, atomic writes, and the per-emulation change lock.
"""
