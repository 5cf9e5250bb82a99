"""nn utilities (being written)."""
