"""Templates: the built-in library and the pipeline from MJML/Jinja to rendered email, SMS and letters."""
