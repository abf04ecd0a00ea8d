"""Alembic migrations; `core.migrate` runs them programmatically."""
