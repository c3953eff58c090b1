"""Load tests and benchmarks that run against a real `omnicart serve` process; see each module's docstring."""
