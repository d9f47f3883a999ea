"""fastsgd benchmarks (pytest-benchmark); see README.md."""
