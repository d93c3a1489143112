"""Presets and input conventions per checkpoint family; loading and saving in Hugging Face format."""
