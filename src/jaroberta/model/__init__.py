"""Presets, input conventions, loading and saving in Hugging Face format; masking, batched forward
passes, the masked-token perplexity that training and inference share, and the masked-LM loss
per character (`char_loss`) that compares models across tokenizers."""
