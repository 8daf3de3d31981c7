"""OpenID Connect single sign-on: providers the administrator adds, the authorization code
flow (PKCE, state, nonce) and the ID token checks, just-in-time users and group mapping."""
