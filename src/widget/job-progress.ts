import { LitElement, css, html } from 'lit';

import { jupyterText } from './styles';

/** What the bar shows: the kernel's state of the job. */
export interface IJobState {
  status: string;
  message: string;
  /** While running: `starting` the engine (runtime and model), then `tracking`. */
  stage: string;
  frames_done: number;
  n_frames: number;
  cells: number;
  backend: string;
  eta_s: number;
}

const BACKEND_NAMES: Record<string, string> = { webgpu: 'WebGPU', wasm: 'WebAssembly' };

function duration(seconds: number): string {
  if (seconds < 0 || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 60) {
    return `${Math.ceil(seconds)} s`;
  }
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** The line under a bar: frames, cells, backend and time left, or how the job ended. */
export function describeJob(state: IJobState): string {
  const frames = `${state.frames_done}/${state.n_frames} frames`;
  const cells = `${state.cells} cell${state.cells === 1 ? '' : 's'}`;
  const backend = BACKEND_NAMES[state.backend] ?? state.backend;
  switch (state.status) {
    case 'waiting':
      return 'waiting for the tracking engine…';
    case 'running': {
      if (state.stage === 'starting') {
        return 'starting the tracking engine: loading the runtime and the model…';
      }
      const left = duration(state.eta_s);
      return [frames, cells, backend, left && `about ${left} left`].filter(Boolean).join(' · ');
    }
    case 'done':
      return [`done: ${frames}`, cells, backend].filter(Boolean).join(' · ');
    default:
      return `${state.status} after ${frames}: ${state.message}`;
  }
}

/** `<cellpoint-job-progress>`: a tracking job's progress bar, for the output under its cell. */
export class JobProgress extends LitElement {
  static properties = { state: { attribute: false } };

  static styles = [
    jupyterText,
    css`
      :host {
        padding: 4px 0;
      }
      progress {
        width: min(100%, 480px);
        height: 12px;
        vertical-align: middle;
      }
      .line {
        margin-top: 2px;
      }
      :host([ended='failed']) .line,
      :host([ended='cancelled']) .line {
        color: var(--jp-error-color1, #b00020);
      }
    `
  ];

  declare state: IJobState;

  render(): unknown {
    const { status, frames_done, n_frames } = this.state;
    this.setAttribute('ended', status);
    return html`<label>
        cellpoint
        <progress
          aria-label="tracking progress"
          max=${Math.max(n_frames, 1)}
          value=${status === 'waiting' ? 0 : frames_done}
        ></progress>
      </label>
      <div class="line" role="status" aria-live="polite">${describeJob(this.state)}</div>`;
  }
}

export function defineJobProgress(): void {
  if (!customElements.get('cellpoint-job-progress')) {
    customElements.define('cellpoint-job-progress', JobProgress);
  }
}
