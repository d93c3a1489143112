"""The pretraining loop, optimizer and schedule, checkpoints, distributed setup, fine-tuning."""
