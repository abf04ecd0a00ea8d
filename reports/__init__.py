"""Reports: read-only queries for funnels, costs, attribution, ROI, A/B and holdout statistics."""
