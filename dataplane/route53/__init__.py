"""Route 53 and ExternalDNS, pure half: hosted zones, the records ExternalDNS
keeps in them, and the DNS answers Route 53 gives -- no kernel, sockets or clock.

Like ``dataplane.edge`` it sits below ``dataplane.topology``, which reads the
hosted zones and an ExternalDNS Deployment's arguments with it (so a bad
argument is a warning when the file is read) and keeps both in the Plan:

* ``records``: the values (a record set, a hosted zone, an ExternalDNS
  endpoint) and their JSON, which the state file ``route53.json`` holds.
* ``settings``: an ExternalDNS container's arguments -> its settings.
* ``registry``: the TXT registry: a record's TXT name and ownership value.
* ``sync``: one ExternalDNS reconcile: endpoints -> record sets (the AWS
  provider's ALIAS or CNAME), changed in the zones as the policy allows.
* ``answer``: a DNS reply from the zones, ALIAS records answered with the
  addresses of their target.
"""
