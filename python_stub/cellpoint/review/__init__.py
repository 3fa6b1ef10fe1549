"""The kernel's side of the review viewer (src/widget/review/): `TrackingResult.review()`."""
