"""Surveys: definitions, invitations, answers and mapping answers into contact fields."""
