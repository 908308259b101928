"""Side-by-side benchmarks of the DWCP pipeline (`make bench`); see run.py."""
