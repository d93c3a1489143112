"""Fine-tuning: the task kinds (classification, pairs, NER, extractive QA, multiple choice), JGLUE and its metrics."""
