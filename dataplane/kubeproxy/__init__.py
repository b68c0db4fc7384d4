"""Plan → nftables rulesets in the shape of kube-proxy's nftables mode (pure, no root).

* ``render.render_node``   a node's ``ip kube-proxy`` table, one ``nft -f`` transaction
* ``loadbalancer.render_lb`` the emulated cloud load balancer's ``ip dpctl-lb`` table
* ``detector.detector_for``  how a node tells pod traffic apart (pod CIDR or pod veth prefix)

Modules: ``names`` (kube-proxy's hashed object names), ``categorize``
(which endpoints a node uses under each traffic policy), ``skeleton`` (base
chains, maps and helper chains), ``serviceport`` (one Service port's
elements and chains), ``nftext`` (writing the table text).
"""
