/**
 * `<cellpoint-review-export>`: where and as what the review viewer exports (a CTC folder, CSV or
 * Parquet tables, a GEFF graph store, a PNG of the view). Rendered into the viewer's shadow root;
 * it says what the user asked in `export-path` and `export` events, and the viewer does it.
 */

import { LitElement, html } from 'lit';

export type ExportFormat = 'ctc' | 'csv' | 'parquet' | 'geff' | 'png';

export const EXPORT_FORMATS: readonly ExportFormat[] = ['ctc', 'csv', 'parquet', 'geff', 'png'];

export class ReviewExportPanel extends LitElement {
  static properties = { path: { attribute: false } };

  /** The folder or file to write, relative to the kernel's working directory. */
  path = '';

  protected createRenderRoot(): HTMLElement {
    return this;
  }

  render(): unknown {
    return html`<fieldset class="export">
      <legend>Export</legend>
      <div class="row">
        <label
          >to
          <input
            type="text"
            class="export-path"
            .value=${this.path}
            aria-label="Export folder or file (in the kernel's working directory)"
            @change=${(e: Event) => this._say('export-path', (e.target as HTMLInputElement).value)}
        /></label>
      </div>
      <div class="row">
        ${EXPORT_FORMATS.map(
          f =>
            html`<button data-export=${f} @click=${() => this._say('export', f)}>
              ${f === 'ctc' ? 'CTC folder' : f.toUpperCase()}
            </button>`
        )}
      </div>
    </fieldset>`;
  }

  private _say(type: 'export-path' | 'export', detail: string): void {
    this.dispatchEvent(new CustomEvent<string>(type, { detail }));
  }
}
