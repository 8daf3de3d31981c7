"""Django settings for the processes a test starts (workers, seed scripts) when the key
derivation is not what it tests: the ordinary settings with the offline copies' PBKDF2
floor lowered to the suite's test-only minimum (tests/factories.py ``TEST_ITERATIONS``).

Nothing selects this module but ``DJANGO_SETTINGS_MODULE``, which only the test helpers set
(tests/cli/helpers.py, ``make_installation(..., cheap_kdf=True)``); production never goes
under 600,000 iterations (strongroom.exports.policy).
"""

from strongroom.config.settings import *  # noqa: F403

STRONGROOM_EXPORT_MIN_ITERATIONS = 1_000
