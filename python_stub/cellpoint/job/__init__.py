"""The kernel's side of a browser tracking job (src/job/): the job, its widget, the wire codec."""
