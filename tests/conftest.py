"""Test groups by what they need: unit tests need nothing; tests marked
``dpctl_root`` need root and Linux network namespaces and are skipped cleanly
elsewhere.  The mark, its skip and the ``topology`` / ``module_topology``
fixtures come from dpctl's own pytest plugin (``dataplane.testing.plugin``,
loaded through its ``pytest11`` entry point), as in any user's suite."""
