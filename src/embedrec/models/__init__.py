"""Models that learn embeddings from interactions."""
