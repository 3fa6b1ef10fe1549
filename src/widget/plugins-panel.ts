import { LitElement, css, html } from 'lit';

import { jupyterText } from './styles';

/** What the panel shows of one registered contribution. */
export interface IContributionSummary {
  kind: string;
  id: string;
  title: string;
  plugin: string;
  loaded: boolean;
}

/**
 * `<cellpoint-plugins>`: the contributions the host knows, grouped by kind, and the tracker
 * settings in force. It answers "what can cellpoint do here, and with which settings?".
 */
export class PluginsPanel extends LitElement {
  static properties = {
    contributions: { attribute: false },
    settings: { attribute: false }
  };

  static styles = [
    jupyterText,
    css`
      table {
        border-collapse: collapse;
        margin-bottom: 0.5em;
      }
      th,
      td {
        text-align: left;
        padding: 2px 10px 2px 0;
      }
      caption {
        text-align: left;
        font-weight: bold;
        padding: 4px 0;
      }
    `
  ];

  contributions: IContributionSummary[] = [];
  settings: Record<string, unknown> = {};

  render(): unknown {
    return html`
      <table aria-label="cellpoint contributions">
        <caption>
          cellpoint contributions (${this.contributions.length})
        </caption>
        <thead>
          <tr>
            <th scope="col">kind</th>
            <th scope="col">id</th>
            <th scope="col">title</th>
            <th scope="col">plugin</th>
            <th scope="col">state</th>
          </tr>
        </thead>
        <tbody>
          ${this.contributions.map(
            c =>
              html`<tr data-id=${c.id}>
                <td>${c.kind}</td>
                <td><code>${c.id}</code></td>
                <td>${c.title}</td>
                <td>${c.plugin}</td>
                <td>${c.loaded ? 'loaded' : 'not loaded'}</td>
              </tr>`
          )}
        </tbody>
      </table>
      <table aria-label="cellpoint tracker settings">
        <caption>
          Tracker settings
        </caption>
        <tbody>
          ${Object.entries(this.settings).map(
            ([key, value]) =>
              html`<tr data-setting=${key}>
                <th scope="row">${key}</th>
                <td>${String(value)}</td>
              </tr>`
          )}
        </tbody>
      </table>
    `;
  }
}

/** Defines the element once, even when several views or tests import this module. */
export function definePluginsPanel(): void {
  if (!customElements.get('cellpoint-plugins')) {
    customElements.define('cellpoint-plugins', PluginsPanel);
  }
}
