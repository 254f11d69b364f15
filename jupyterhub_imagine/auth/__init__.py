"""Login through OpenID Connect providers of research communities (ImagineOAuthenticator)."""
