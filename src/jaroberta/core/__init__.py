"""The ground floor: small plumbing every stage shares, below tokenization.

- `files.py`: atomic writes, fresh folders, content digests;
- `progress.py`: progress bars (rate-limited lines off a terminal) and their one switch;
- `workers.py`: worker processes that end with their parent;
- `hub.py`: model names, a local folder or a Hugging Face hub id;
- `runtime.py`: which process this is under torchrun.
"""
