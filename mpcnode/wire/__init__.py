"""Proto messages to and from domain types: the one place where arrays meet bytes."""
