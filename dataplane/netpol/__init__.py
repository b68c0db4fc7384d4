"""Kubernetes NetworkPolicy, as the VPC CNI's network-policy agent and Calico enforce it.

Pure: ``model`` reads a policy's spec, ``selectors`` match label selectors,
``resolve`` decides per pod whether it is isolated for ingress or egress and
what each direction allows (peers as addresses, ports resolved against the
pods), and ``render`` writes each node's nftables table.  The kernel side
is ``realize.netpol``.
"""
