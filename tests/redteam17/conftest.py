"""Red team (issue 17): offline copies at the test-only PBKDF2 cost, as the exposure tests."""

from exposure.conftest import _cheap_kdf, cheap_policy  # noqa: F401  (fixtures reused)
