"""Nurturing journeys: the step language, versions, enrollments, set-based advancement and triggers."""
