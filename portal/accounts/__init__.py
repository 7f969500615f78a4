"""Operators, their roles and personal API tokens."""
