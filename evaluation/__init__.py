"""failforge evaluation: measuring; nothing here changes data."""
