"""Baoxue (保学): compulsory-education dropout control and school retention."""

__version__ = "0.1.0"
