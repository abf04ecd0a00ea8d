"""Lead scoring: rule points with decay, predictive models, evaluation, lifecycle thresholds."""
