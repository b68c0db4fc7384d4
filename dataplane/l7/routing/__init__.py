"""L7 routing, pure: from checked HTTPRoute / VirtualService / DestinationRule
specs to routing decisions, with no I/O, no clock and no randomness of its
own (a ``random.Random`` and ``now`` are passed in, so tests replay).

It sits below ``dataplane.topology``, which calls the translators to
validate manifests and keeps their output in the Plan:

* ``model``: the normalized values (routes, matches, filters, retries,
  faults, policies) both APIs translate to; ``codec`` stores them as JSON.
* ``gateway`` (+ ``gateway_filters``): HTTPRoute with Service parents (GAMMA).
* ``istio`` (+ ``istio_match``): VirtualService; ``destinationrule``:
  DestinationRule policies and their lookup.
* ``table``: one Service port's routes in precedence order, and ``select``;
  ``decision``: what a chosen route does with a request.
* ``replies``: Envoy's local replies; ``retry``, ``lb``, ``outlier``: the
  per-request helpers the runtime drives.
* ``matching``, ``regex``, ``values``: match semantics, RE2 patterns,
  durations and host names.
"""
