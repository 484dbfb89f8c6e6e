import mlopsdsl as ml


@ml.step(name="preprocess_raw_training_data_and_compute_summary_statistics_per_column")  # error: step 'preprocess_raw_training_data_and_compute_summary_statistics_per_column' cannot become a Kubernetes name: 70 characters, at most 63 allowed
def preprocess() -> int:
    return 1


@ml.pipeline
def preprocessing() -> int:
    return preprocess()
