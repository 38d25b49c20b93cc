"""The loopback Kaggle under its old import path; it lives in `tests.support.kaggle` now."""

from tests.support.kaggle import *  # noqa: F403
from tests.support.kaggle import __all__  # noqa: F401
