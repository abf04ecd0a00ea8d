"""Prefect flows: thin orchestration of the domain functions, and their schedules."""
