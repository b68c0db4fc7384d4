"""dpctl benchmarks (``scripts/bench``): figures as ratios against the
direct kernel path measured in the same run."""
