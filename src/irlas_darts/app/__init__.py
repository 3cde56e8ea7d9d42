"""Command-line applications (Hydra): irlas-search, irlas-eval, irlas-report. The top layer: nothing imports it."""

import os

# Spinning OpenMP workers stall badly when several jobs share a few cores (a sweep, a busy CI machine): let idle
# threads sleep. Set before torch is imported by the apps; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
