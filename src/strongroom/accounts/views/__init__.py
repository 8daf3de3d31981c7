"""People pages, one module per section: sign-in (``login``), re-authentication
(``reauth``), "My account" (``account``, ``two_factor``, ``tokens``) and the
administrators' ``users``, ``groups``, ``roles`` and general ``settings`` pages.

Secrets that exist in clear only once (recovery codes, a new API token, a generated
password) are rendered in the response to the POST that created them and never stored or
redirected through the session.
"""
