"""The cluster edge, pure half: Ingresses to emulated AWS Application Load
Balancers as the AWS Load Balancer Controller (LBC) builds them, and the
decisions an ALB makes on a request, with no kernel, sockets or clock.

Like ``dataplane.l7.routing`` it sits below ``dataplane.topology``, which
will call ``ingress.translate`` to validate Ingresses and keep the ALBs in
the Plan; the runtime (ALB nodes, health checks, ACM-style certificates)
acts on these values later:

* ``albmodel``: the frozen values (ALB, listeners, rules, actions, target
  groups, health checks).
* ``ingress``: Ingresses (grouped by ``group.name``) to ALBs, with every
  problem reported under the Ingress field that caused it; ``grouping``
  picks the ALB's Ingresses and their order, ``annotations`` reads the
  ``alb.ingress.kubernetes.io/`` values, ``targetgroup`` builds one target
  group from Ingress and Service annotations.
* ``albmatch``: the rule a request meets on a listener.
* ``certificates``: the certificate an SNI name gets, and discovery by host;
  ``tlspolicy``: the TLS versions of each ``ELBSecurityPolicy-*``.
"""
