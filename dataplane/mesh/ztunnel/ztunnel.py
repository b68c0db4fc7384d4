"""The node's ztunnel: the object the node agent owns and reconciles on SIGHUP.

``reconcile(plan)`` moves the node's pods in and out of the mesh live, as
istio-cni + ztunnel do for a namespace label change, without touching a
pod's own sockets:

* a pod that joins: its ``PodProxy`` listens first (15001/15006/15008 in the
  pod), then ``enable_redirection`` switches capture on, so no captured flow
  ever finds no listener;
* every proxy checks its established inbound connections against the
  plan's policies again and closes the newly denied ones, as ztunnel's
  policy watcher does; the others carry on;
* a pod that leaves (unenrolled, opted out, deleted, or re-made with another
  namespace/address): its listeners close and the capture rules (nat, flushed; the hooked
  empty chains keep translating established flows) go at once, so new flows go straight to their target; connections already
  proxied keep running, and the return-path plumbing (mangle table, fwmark
  rule, table 100) that their spoofed legs need is removed only when the last
  of them ends (``disable_redirection``).  The proxy's socket thread, which
  sits inside the pod and so keeps its namespace (and veths) alive, stops at
  the same moment: at once if nothing is active or the pod is gone, else
  with the last connection (``_drained``).

The ztunnel's ``MeshMetrics`` (``self.metrics``) outlives reconciles: its
counters only grow, as Prometheus expects; the agent serves them on
127.0.0.1:15020 of the node.

Pods with an emulated sidecar are served the same way, each by a ``PodProxy``
in sidecar mode behind istio-init's capture (``SIDECAR_CAPTURE``); a pod
moving between ambient and sidecar is re-enrolled.

The proxies share one ``ProxyContext``: the resolver of the current plan
(swapped on every reconcile), those metrics, and TLS contexts per identity
made from the emulation's certificate store (``<state>/certs``).
"""

from __future__ import annotations

import logging
import ssl
from importlib import metadata
from pathlib import Path

from dataplane.kernel import inpod, netns, nft
from dataplane.mesh.enrollment import has_sidecar
from dataplane.mesh.metrics import MeshMetrics
from dataplane.mesh.redirect import NAT_TABLE
from dataplane.mesh.store import CertificateStore
from dataplane.mesh.ztunnel import accesslog
from dataplane.mesh.ztunnel.capture import CAPTURE, SIDECAR_CAPTURE
from dataplane.mesh.ztunnel.context import ProxyContext, TlsContexts
from dataplane.mesh.ztunnel.podproxy import PodProxy
from dataplane.mesh.ztunnel.workloads import Resolver, served_on
from dataplane.state.layout import certs_dir
from dataplane.topology.plan import Plan, Pod

log = logging.getLogger(__name__)

# Flush, not delete: the kernel translates established REDIRECTed flows only
# while some nat chain is hooked in the namespace, so the chains must stay.
_STOP_CAPTURE = f"flush table inet {NAT_TABLE}\n"


def build_tag() -> str:
    """``istio_build``'s tag: dpctl's version (the emulation's "Istio version")."""
    try:
        return metadata.version("dpctl")
    except metadata.PackageNotFoundError:
        return "unknown"


def _shape(pod: Pod) -> tuple[str, str, str, str]:
    return (pod.netns, pod.ip, pod.namespace, pod.service_account)


class Ztunnel:
    def __init__(self, state_dir: Path, node: str):
        self._state_dir = state_dir
        self.node = node
        self.context: ProxyContext | None = None  # made by the first reconcile, before any pod is served
        self.proxies: dict[str, PodProxy] = {}
        self.draining: set[PodProxy] = set()
        self.metrics = MeshMetrics(build_tag())
        accesslog.setup()

    # -- reconcile ---------------------------------------------------------------------------------

    async def reconcile(self, plan: Plan) -> list[str]:
        """Enroll and unenroll this node's pods to match ``plan``; the errors, one per pod."""
        if self.context is None:
            store = CertificateStore(str(certs_dir(self._state_dir)), plan.name, plan.trust_domain)
            self.context = ProxyContext(Resolver(plan), self.metrics, TlsContexts(store))
        else:
            self.context.resolver = Resolver(plan)
        wanted = served_on(plan, self.node)
        sidecars = {key for key, pod in wanted.items() if has_sidecar(plan, pod)}
        errors: list[str] = []
        for key, proxy in list(self.proxies.items()):
            pod = wanted.get(key)
            if pod is not None and _shape(pod) == _shape(proxy.pod) and proxy.sidecar == (key in sidecars):
                proxy.pod = pod
                continue
            del self.proxies[key]
            try:
                self._unenroll(proxy)
            except (OSError, ValueError) as exc:
                log.error("ztunnel: cannot unenroll %s: %s", key, exc)
                errors.append(f"ztunnel {key}: {exc}")
        for key, pod in wanted.items():
            if key in self.proxies:
                continue
            try:
                self.proxies[key] = await self._enroll(pod, key in sidecars)
            except (OSError, ValueError, ssl.SSLError) as exc:
                log.error("ztunnel: cannot enroll %s: %s", key, exc)
                errors.append(f"ztunnel {key}: {exc}")
        for key, proxy in self.proxies.items():
            closed = proxy.recheck_policies()
            if closed:
                log.info("ztunnel: %s: closed %d established connection(s) the policies now deny", key, closed)
        return errors

    async def _enroll(self, pod: Pod, sidecar: bool) -> PodProxy:
        # A pod leaving and coming back before its old connections drained:
        # the old proxy must not tear the new capture down when it goes idle.
        for old in [p for p in self.draining if p.pod.netns == pod.netns]:
            old.on_idle = None
            old.close_sockets()
            self.draining.discard(old)
        assert self.context is not None
        proxy = PodProxy(self.context, pod, sidecar)
        await proxy.open()
        try:
            inpod.enable_redirection(pod.netns, SIDECAR_CAPTURE if sidecar else CAPTURE)
        except BaseException:
            await proxy.close()
            raise
        log.info("%s: enrolled %s (%s) as %s", "sidecar" if sidecar else "ztunnel", pod.key, pod.ip, proxy.identity)
        return proxy

    def _unenroll(self, proxy: PodProxy) -> None:
        proxy.stop_listening()
        if not netns.exists(proxy.pod.netns):  # pod deleted: let its namespace go
            proxy.close_sockets()
            return
        if proxy.active == 0:
            proxy.close_sockets()
            inpod.disable_redirection(proxy.pod.netns, CAPTURE)
            log.info("ztunnel: unenrolled %s", proxy.pod.key)
            return
        nft.apply(proxy.pod.netns, _STOP_CAPTURE)
        self.draining.add(proxy)
        proxy.on_idle = self._drained
        log.info("ztunnel: unenrolled %s; %d connections drain first", proxy.pod.key, proxy.active)

    def _drained(self, proxy: PodProxy) -> None:
        proxy.on_idle = None
        self.draining.discard(proxy)
        proxy.close_sockets()
        if any(p.pod.netns == proxy.pod.netns for p in self.proxies.values()):
            return  # enrolled again meanwhile
        try:
            if netns.exists(proxy.pod.netns):
                inpod.disable_redirection(proxy.pod.netns, CAPTURE)
            log.info("ztunnel: %s drained, capture removed", proxy.pod.key)
        except (OSError, ValueError) as exc:
            log.error("ztunnel: cannot remove capture of %s: %s", proxy.pod.key, exc)

    async def close(self) -> None:
        """Agent shutdown: every listener and connection; capture removed where the pod still exists."""
        for proxy in [*self.proxies.values(), *self.draining]:
            proxy.on_idle = None
            await proxy.close()
            try:
                if netns.exists(proxy.pod.netns):
                    inpod.disable_redirection(proxy.pod.netns, CAPTURE)
            except (OSError, ValueError) as exc:
                log.error("ztunnel: cannot remove capture of %s: %s", proxy.pod.key, exc)
        self.proxies.clear()
        self.draining.clear()
