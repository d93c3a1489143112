"""Fine-tuning: text classification, sentence pairs and NER on the one training loop.

- `finetune(FinetuneConfig(...))` (`run.py`): data -> model with a transformers head -> loop -> results;
- `data.py`: readers (JSON lines, CSV/TSV, CoNLL IOB2, JGLUE files as they are) and label checks;
- `align.py`: character spans <-> subword pieces through the tokenizer's offsets;
- `kinds.py`: what differs between classify, pair and ner (encoding, head, loss, decoding, metrics);
- `task.py`: the task object `jaroberta.train.loop.train` runs;
- `datasets.py`: built-in datasets (`hironsan` NER).
Predictions with a fine-tuned model: `jaroberta.infer.predict`.
"""
