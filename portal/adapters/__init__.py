"""Adapters: how the portal talks to back-office systems (DESIGN §3)."""
