"""progressive_result package."""
