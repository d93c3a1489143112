"""Fine-tuning: the task kinds, their data, metrics and alignment, the run, loading and predicting.

Start at `run.finetune(FinetuneConfig(...))` (a run on the one training loop) or
`predict.predict(load_finetuned(folder), inputs)`. What differs between kinds is the
`TaskKind` protocol (`kinds/base.py`), one module per kind, registered in `kinds/__init__.py`.
- `data.py`: readers (JSON lines, CSV/TSV, CoNLL IOB2, JGLUE files as they are), label checks;
- `align.py`: character spans <-> subword pieces; `metrics.py`: accuracy, F1s, correlations;
- `datasets.py`: built-in datasets; `task.py`: the run as the training loop sees it;
- `finetuned.py`: loading a fine-tuned folder; `predict.py`: predictions with it;
- JGLUE: `jglue.py` (a checkout's tasks, settings, readers, baselines), `jglue_metrics.py`
  (the official metrics), `squad.py` (SQuAD v1 data, QA windows, n-best spans, boundary ceiling).
"""
