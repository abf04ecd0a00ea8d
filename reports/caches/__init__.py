"""caches."""
