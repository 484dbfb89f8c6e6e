"""Tabular classification with pandas and scikit-learn: parquet data, features, a model, a report."""
