"""Reproducible training of the classifier heads (`safewatch train`)."""
