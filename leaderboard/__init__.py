"""The tracker: parsing, rules, significance, the database, records folders and the web app."""
