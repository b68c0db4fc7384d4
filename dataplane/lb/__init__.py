"""The cloud load balancers' runtime: ALB nodes (one namespace per zone) that
terminate TLS with certificates from an emulated ACM and forward HTTP to
target groups, served by one node agent.  What an Ingress group *means*
(listeners, ordered rules, certificates) is the pure ``dataplane.edge``; the
HTTP codecs and pools are the L7 core's (``dataplane.l7.http``)."""
