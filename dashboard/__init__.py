"""The Streamlit dashboard: one module per page, reading through reports/."""
