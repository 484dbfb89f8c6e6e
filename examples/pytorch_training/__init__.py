"""Train a small PyTorch network on scikit-learn's bundled digits; register it only if it beats the current one."""
