"""Fill-mask, scoring and embeddings (a fine-tuned model predicts through `jaroberta.finetune.predict`)."""
