"""Readers, cleaning, sentence splitting, dedup, train/dev split, packing to shards."""
