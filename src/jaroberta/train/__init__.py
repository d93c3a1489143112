"""The one training loop, pretraining, optimizer and schedule, checkpoints, distributed setup (fine-tuning: `jaroberta.finetune`)."""
