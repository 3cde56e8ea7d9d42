"""``python -m irlas_darts`` is ``irlas-search``."""

from irlas_darts.app.search_app import main

main()
