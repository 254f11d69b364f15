"""Deprecated: the handler base is :class:`.base.ImagineAPIHandler` (kept for one release)."""

from __future__ import annotations

from .base import ImagineAPIHandler

ImagineResourceHandler = ImagineAPIHandler

__all__ = ["ImagineResourceHandler"]
