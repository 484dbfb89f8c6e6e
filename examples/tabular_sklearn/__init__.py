"""Tabular classification with pandas and scikit-learn: parquet datasets, a feature step, a model, a report."""
