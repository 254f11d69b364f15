"""Binder-style launch links: one link opens a profile, a repository (pulled by nbgitpuller) and a
file. See docs/links.md; enable with :func:`jupyterhub_imagine.links.hubconfig.wire_links`."""
