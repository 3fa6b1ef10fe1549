/**
 * `<cellpoint-review-layers>`: the review viewer's layer list (visibility, opacity, colour map).
 * Rendered into the viewer's shadow root (no shadow root of its own), so the viewer's styles
 * apply; it changes nothing itself but says what the user asked in a `layer-change` event.
 */

import { LitElement, html, nothing } from 'lit';

import { ILayerState } from './draw';
import { COLORMAPS, ColormapName } from './image';

export interface ILayerChange {
  name: string;
  change: Partial<ILayerState>;
}

export class ReviewLayerList extends LitElement {
  static properties = { layers: { attribute: false } };

  layers: ILayerState[] = [];

  protected createRenderRoot(): HTMLElement {
    return this;
  }

  render(): unknown {
    return html`<fieldset class="layers">
      <legend>Layers</legend>
      ${this.layers.map(
        l =>
          html`<div class="row" data-layer=${l.name}>
            <label
              ><input
                type="checkbox"
                .checked=${l.visible}
                aria-label="Show ${l.name}"
                @change=${(e: Event) => this._change(l.name, { visible: (e.target as HTMLInputElement).checked })}
              />
              ${l.name}</label
            >
            <input
              type="range"
              min="0"
              max="1"
              step="0.05"
              .value=${String(l.opacity)}
              aria-label="${l.name} opacity"
              @input=${(e: Event) => this._change(l.name, { opacity: Number((e.target as HTMLInputElement).value) })}
            />
            ${
              l.colormap
                ? html`<select
                    aria-label="${l.name} colour map"
                    @change=${(e: Event) => this._change(l.name, { colormap: (e.target as HTMLSelectElement).value as ColormapName })}
                  >
                    ${COLORMAPS.map(c => html`<option value=${c} ?selected=${c === l.colormap}>${c}</option>`)}
                  </select>`
                : nothing
            }
          </div>`
      )}
    </fieldset>`;
  }

  private _change(name: string, change: Partial<ILayerState>): void {
    this.dispatchEvent(new CustomEvent<ILayerChange>('layer-change', { detail: { name, change } }));
  }
}
