"""A hyper-parameter sweep: train one model per setting in parallel, then pick the best."""
