"""node_specialization package."""
