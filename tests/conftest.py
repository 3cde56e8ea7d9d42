import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import torch  # noqa: E402

# Tests use tiny tensors: one thread avoids oversubscription when several test processes share the cores.
torch.set_num_threads(1)
