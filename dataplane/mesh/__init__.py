"""Ambient mesh: workload identities, their certificates and the TLS of HBONE.

``identity`` names workloads (SPIFFE ids), ``ca`` mints the certificates that
carry those names, ``store`` keeps them in the state directory and renews
them, ``tls`` turns them into the mutual-TLS contexts both ends of an HBONE
tunnel use.  Nothing here needs root or touches the kernel.
"""
