"""Role-based access control (DESIGN §4). The full three-layer model grows here."""
