"""Fill-mask, scoring, embeddings, perplexity."""
