"""Presets, input conventions, loading and saving in Hugging Face format; masking, batched forward
passes and the masked-token perplexity that training and inference share."""
