"""Contacts: import, dedup and merge, consent and suppression, the timeline, GDPR, feedback."""
