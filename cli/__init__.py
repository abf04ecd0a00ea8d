"""The `relance` command line (Typer + Rich)."""
