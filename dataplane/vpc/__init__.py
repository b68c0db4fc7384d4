"""The VPC around the cluster: security groups and network ACLs (so far), as EC2 defines them.

Pure: ``security`` reads and checks the Topology's ``spec.vpc.securityGroups``
and ``networkAcls`` with the EC2 API's field names, ``evaluate`` answers
whether a packet passes and which rule decides (for ``verify`` and for
reasons), and ``render`` writes the nftables that enforce them: a table per
node for the groups of its ENI, one in the VPC router for the subnets'
ACLs.  The kernel side is ``realize.vpc``.
"""
