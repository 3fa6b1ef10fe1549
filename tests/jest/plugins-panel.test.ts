import { PluginsPanel, definePluginsPanel } from '../../src/widget/plugins-panel';

describe('<cellpoint-plugins>', () => {
  beforeAll(() => definePluginsPanel());

  it('is defined once however often it is asked for', () => {
    expect(() => definePluginsPanel()).not.toThrow();
    expect(customElements.get('cellpoint-plugins')).toBe(PluginsPanel);
  });

  it('renders one row per contribution and per setting', async () => {
    const panel = document.createElement('cellpoint-plugins') as PluginsPanel;
    document.body.appendChild(panel);
    panel.contributions = [
      { kind: 'reader', id: 'a.read', title: 'Reader A', plugin: 'a', loaded: false },
      { kind: 'tracker', id: 'b.track', title: 'Tracker B', plugin: 'b', loaded: true }
    ];
    panel.settings = { windowLength: 32, backend: 'wasm' };
    await panel.updateComplete;

    const root = panel.shadowRoot as ShadowRoot;
    const rows = [...root.querySelectorAll('tr[data-id]')].map(r => r.textContent ?? '');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/reader\s*a\.read\s*Reader A\s*a\s*not loaded/);
    expect(rows[1]).toMatch(/tracker\s*b\.track\s*Tracker B\s*b\s*loaded/);
    expect(root.querySelector('caption')?.textContent).toContain('(2)');
    expect(root.querySelector('tr[data-setting="windowLength"] td')?.textContent).toBe('32');
    panel.remove();
  });
});
