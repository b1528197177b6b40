"""Mapping modules, one per clinical domain, and the terminology tables they read."""
