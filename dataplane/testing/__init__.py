"""dpctl for your own pytest suites.

Installed with dpctl, this plugin gives every test session a ``topology``
fixture and a ``dpctl_root`` mark::

    import pytest

    @pytest.mark.dpctl_root
    def test_ui_reaches_catalog(topology):
        shop = topology("topologies/retail-store.yaml")
        answer = shop.http_get("ui/ui-0", "http://catalog.catalog/")
        assert answer["namespace"] == "catalog"

See ``dataplane.testing.emulation.Emulation`` for the helpers.
"""

from dataplane.testing.emulation import Emulation

__all__ = ["Emulation"]
