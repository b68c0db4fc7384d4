"""North-south ingress gateways (Gateway API, class ``istio``) a node agent serves.

istiod deploys a Gateway of class ``istio`` as a pod (``topology.parse_gateways``);
the agent of the node running it listens in that pod on every listener port.
``view`` (pure) reads the plan as one gateway sees it -- listeners, attached
routes and their tables, endpoints; ``tls`` peeks at ClientHellos and holds
the listeners' certificates; ``http`` is the HTTP chain over the L7 core;
``proxy`` owns one pod's listeners; ``manager`` reconciles the node's pods.
"""
