"""Applies a plan to the kernel and removes it again (needs root)."""
