"""Settings for the test suite: the production settings, read with a test environment."""

import os
import tempfile

os.environ.setdefault("BAOXUE_TESTING", "1")
os.environ.setdefault("BAOXUE_DATA_DIR", tempfile.mkdtemp(prefix="baoxue-test-"))
# A fixed key so that keyed hashes are reproducible across workers; never used outside tests.
os.environ.setdefault("BAOXUE_FIELD_KEY", "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMzJieXQ=")

from baoxue.settings import *  # noqa: F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
