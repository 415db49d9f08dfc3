"""Panels of the main window; each shows one kind of figure and can export it."""
