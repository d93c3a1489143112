"""Fill-mask, scoring, embeddings and predictions with a fine-tuned model."""
