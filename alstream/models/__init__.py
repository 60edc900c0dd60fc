"""Model artifacts shared by the trainer (which writes them) and the scorer (which loads them)."""
