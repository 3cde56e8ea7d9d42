"""Command-line applications (Hydra): irlas-search, irlas-eval, irlas-report. The top layer: nothing imports it."""
