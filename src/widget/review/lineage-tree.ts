/**
 * The lineage tree: time runs down, each track a vertical line in its column, each division a
 * connector from the mother's end to her daughters; rejected divisions dashed, the current
 * frame a horizontal rule, the selected track thicker. Clicking a track selects it.
 */

import { SVGTemplateResult, svg } from 'lit';

import { ILineageLayout } from './lineage-layout';
import { trackColour } from './palette';
import { IDivision } from './tables';

export const COLUMN_PX = 14;
const MARGIN = 10;
const AXIS_PX = 30; // frame numbers on the left

export interface ITreeView {
  layout: ILineageLayout;
  divisions: readonly IDivision[];
  frames: number;
  t: number;
  selected: number;
  /** Vertical pixels per frame. */
  rowPx: number;
  onSelect(trackId: number): void;
}

export function treeSize(view: Pick<ITreeView, 'layout' | 'frames' | 'rowPx'>): [number, number] {
  return [
    Math.max(1, view.layout.columns) * COLUMN_PX + 2 * MARGIN + AXIS_PX,
    Math.max(1, view.frames) * view.rowPx + 2 * MARGIN
  ];
}

export function lineageTree(view: ITreeView): SVGTemplateResult {
  const x = (column: number): number => AXIS_PX + MARGIN + column * COLUMN_PX + COLUMN_PX / 2;
  const y = (t: number): number => MARGIN + t * view.rowPx;
  const [width, height] = treeSize(view);
  const connectors = view.divisions.map(d => {
    const mother = view.layout.nodes.get(d.parentId);
    if (!mother) {
      return svg``;
    }
    const dash = d.status === 'rejected' ? '3 3' : '';
    return d.daughters.map(id => {
      const daughter = view.layout.nodes.get(id);
      if (!daughter) {
        return svg``;
      }
      return svg`<path d="M ${x(mother.column)} ${y(mother.end)} L ${x(daughter.column)} ${y(
        daughter.start
      )}" stroke="#999" stroke-width="1" fill="none" stroke-dasharray=${dash}
        data-division=${d.parentId}></path>`;
    });
  });
  const step = Math.max(1, Math.ceil(24 / view.rowPx / 5) * 5); // a label every >= 24 px
  const ticks = Array.from({ length: Math.ceil(view.frames / step) }, (_, i) => i * step).map(
    t => svg`<text x="2" y=${y(t) + 4} font-size="10" fill="currentColor">t ${t}</text>`
  );
  const lines = [...view.layout.nodes.values()].map(node => {
    const chosen = node.trackId === view.selected;
    return svg`<line x1=${x(node.column)} x2=${x(node.column)} y1=${y(node.start)}
      y2=${y(node.end) + Math.max(1, view.rowPx * 0.6)}
      stroke=${trackColour(node.trackId)} stroke-width=${chosen ? 5 : 2.5}
      stroke-linecap="round" data-track=${node.trackId} tabindex="-1"
      @click=${() => view.onSelect(node.trackId)}><title>track ${node.trackId}, frames ${
        node.start
      }-${node.end}</title></line>`;
  });
  return svg`<svg width=${width} height=${height} viewBox="0 0 ${width} ${height}" role="img"
    aria-label="Lineage tree: ${view.layout.nodes.size} tracks, time runs down">
    <line x1="0" x2=${width} y1=${y(view.t)} y2=${y(view.t)} stroke="#e66" stroke-width="1"
      class="now"></line>
    ${ticks}${connectors}${lines}</svg>`;
}
