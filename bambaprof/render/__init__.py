"""Rendering: terminal tables, JSON and CSV (and, later, HTML)."""

from .tables import Column, render_rows

__all__ = ["Column", "render_rows"]
