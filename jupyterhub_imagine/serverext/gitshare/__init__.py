"""Git facts for the Share button: whether a file sits in a pushed git repository, so the
labextension can offer a launch link (``GET /jupyterhub-imagine/api/share?path=``)."""
