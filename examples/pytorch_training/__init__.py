"""Train a small PyTorch network on the bundled digits; register it only if it beats the current one."""
