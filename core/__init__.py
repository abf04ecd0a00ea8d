"""Base layer: settings, database, models, migrations, signing and the clock."""
