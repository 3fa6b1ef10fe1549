import { css } from 'lit';

/** JupyterLab's UI text (font, size, colour) for a component's host, outside any theme too. */
export const jupyterText = css`
  :host {
    display: block;
    font-family: var(--jp-ui-font-family, sans-serif);
    font-size: var(--jp-ui-font-size1, 13px);
    color: var(--jp-ui-font-color1, #000);
  }
`;
