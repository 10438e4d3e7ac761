"""Security tests: each reproduces one finding of issue 14."""
