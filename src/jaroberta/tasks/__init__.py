"""Fine-tuning tasks: what classify, pair and NER read, how they align labels to pieces, score and decode.

- `data.py`: readers (JSON lines, CSV/TSV, CoNLL IOB2, JGLUE files as they are) and label checks;
- `align.py`: character spans <-> subword pieces through the tokenizer's offsets;
- `kinds.py`: what differs between classify, pair and ner (encoding, head, loss, decoding, metrics);
- `metrics.py`: accuracy, macro-F1, entity F1, Pearson and Spearman;
- `datasets.py`: built-in datasets (`hironsan` NER).
Training them: `jaroberta.train.finetune`; predicting with them: `jaroberta.infer.predict`.
"""
