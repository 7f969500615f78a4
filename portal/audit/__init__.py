"""The operation log: every operation is an audit event (DESIGN §6)."""
