"""Fine-tuning: training examples from the catalogue, and the training loop."""
