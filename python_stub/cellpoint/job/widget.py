"""The tracking job's widget: the browser's model runs the job, its view is the progress bar."""

from __future__ import annotations

from traitlets import Bool, Dict, Float, Int, List, Unicode

from ..widgets import _CellpointWidget


class JobWidget(_CellpointWidget):
    """One tracking job's widget: the browser's model runs it in the engine, the view is the
    progress bar under the cell. The kernel's `TrackingJob` (job.py) drives it; the state
    below is the kernel's, shown by every view."""

    _model_name = Unicode("TrackingJobModel").tag(sync=True)
    _view_name = Unicode("TrackingJobView").tag(sync=True)

    shape = List(Int(), help="(T, H, W) of the stack").tag(sync=True)
    frame_shape = List(Int(), help="(h, w) of each frame as it travels").tag(sync=True)
    dtype = Unicode(help="numpy dtype of the frames as they travel").tag(sync=True)
    model_inputs = Bool(
        False, help="frames travel as the network's inputs (normalised, resized, padded)"
    ).tag(sync=True)
    diameter = Float(help="cell diameter, input pixels").tag(sync=True)
    polarity = Unicode("bright", help="bright or dark: cells against the background").tag(sync=True)
    params = Dict(help="RAW's parameters").tag(sync=True)
    backend_choice = Unicode(help="auto, webgpu or wasm; empty: the user's settings").tag(sync=True)
    threads_choice = Int(0, help="WebAssembly threads; 0: the user's settings").tag(sync=True)
    status = Unicode("waiting", help="waiting, running, done, failed or cancelled").tag(sync=True)
    message = Unicode(help="why the job failed or was cancelled").tag(sync=True)
    stage = Unicode(help="while running: starting (the engine) or tracking").tag(sync=True)
    frames_done = Int(0).tag(sync=True)
    n_frames = Int(0).tag(sync=True)
    cells = Int(0).tag(sync=True)
    backend = Unicode(help="the backend the browser runs on").tag(sync=True)
    eta_s = Float(-1.0, help="seconds left, estimated; negative: unknown").tag(sync=True)
