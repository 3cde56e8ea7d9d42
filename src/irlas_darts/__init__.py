"""irlas_darts: differentiable architecture search with a learned topology prior (IRLAS' mirror stimuli function)."""

__version__ = "0.1.0"
