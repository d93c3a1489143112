"""Normalization, MeCab, the two tokenizer families, user dictionaries."""
