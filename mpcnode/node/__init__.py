"""The node daemon: one per organization. Holds its inputs, shares them, releases partials."""
