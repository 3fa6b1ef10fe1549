"""Data in and out: the result tables, `TrackingResult`, input stacks, CTC folders, GEFF stores."""
