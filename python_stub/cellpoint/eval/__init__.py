"""Evaluation: the simulator, the CTC metrics, the baseline, held-out sets and sample data."""
