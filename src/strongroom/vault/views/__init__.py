"""Web pages of the vault, one module per section: ``resources``, ``accounts`` (password
retrieval), ``sharing``, ``groups`` (resource groups) and ``importing``; ``common`` holds
the plumbing.

Thin like the REST API (``vault.api``): every page reads through ``vault.selectors`` and
changes things through ``vault.services`` with the signed-in user and the client address.
Services raise typed errors; here they become form errors (bad input), or an error page with
the error's status (404 for what the user cannot see, 403 for too low a level).

Secrets reach the browser only in the JSON answers of the POST retrieval endpoints, which the
page script puts into the page with ``textContent``. Every response of these views carries
``Cache-Control: no-store``: the pages name hosts, usernames and notes, and the retrieval
answers carry passwords.
"""
