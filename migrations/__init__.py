"""Alembic environment and versions; ``ddms.migrate`` runs them."""
