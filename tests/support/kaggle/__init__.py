"""A loopback Kaggle that the real `kaggle` client (kagglesdk underneath) talks to over HTTP.

Split by job: `model.py` (the records: datasets, kernels, versions, submissions, faults), `service.py`
(what each API call answers), `http_surface.py` (routes, sign-in, uploads, the server thread),
`notebook_runner.py` (makes a kernel version's output, running the pushed notebook when asked).
"""

from tests.support.kaggle.http_surface import start_kaggle_server
from tests.support.kaggle.model import (
    COMPETITION,
    Competition,
    Faults,
    KernelFailedError,
    Runner,
    default_competition,
    score_submission,
)
from tests.support.kaggle.notebook_runner import identity_runner, notebook_runner, run_notebook_cells
from tests.support.kaggle.service import KaggleStandIn

__all__ = [
    "COMPETITION",
    "Competition",
    "Faults",
    "KaggleStandIn",
    "KernelFailedError",
    "Runner",
    "default_competition",
    "identity_runner",
    "notebook_runner",
    "run_notebook_cells",
    "score_submission",
    "start_kaggle_server",
]
