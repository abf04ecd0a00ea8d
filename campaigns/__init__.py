"""Campaigns: audience planning, A/B and holdout, policies, the send ledger and the dispatcher."""
