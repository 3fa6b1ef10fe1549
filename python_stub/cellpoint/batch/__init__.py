"""Many stacks at once: `track_many` on a Dask cluster (run.py) and the inputs it opens
(inputs.py); the command line (`cellpoint track`) is its other face."""
