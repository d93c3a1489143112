"""Fine-tuning on the one training loop: `finetune(FinetuneConfig(...))` (`run.py`) and the task
object `jaroberta.train.loop.train` runs (`task.py`). What the tasks are: `jaroberta.tasks`."""
