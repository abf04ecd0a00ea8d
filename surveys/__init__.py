"""Surveys: the YAML definition language, versions, answer pages' domain (resume, one response per invitation, skip
logic, validation), write-back into contact records, and results with NPS and CSAT intervals."""
