"""`facet build`: fetch and decode images, embed them, publish the index, verify it."""
