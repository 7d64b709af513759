"""Periodic retraining: a challenger on recent logs, gated against the champion before promotion."""
