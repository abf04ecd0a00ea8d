"""The FastAPI app: webhooks, tracking, unsubscribe and preferences, forms, conversions API."""
