"""Statistics: summary means with confidence intervals, percentiles, paired tests."""
