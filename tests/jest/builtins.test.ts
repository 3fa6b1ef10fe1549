import { BUILTIN_MANIFEST, IKernelSample, registerBuiltins } from '../../src/builtins';
import { ContributionRegistry, validateManifest } from '../../src/host';
import { TrackerSettings } from '../../src/settings';

describe('built-in contributions', () => {
  it('have a manifest that passes the same validation as a third party', () => {
    expect(() => validateManifest(BUILTIN_MANIFEST)).not.toThrow();
  });

  it('register through the registry and load lazily', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const ids = registry.list().map(c => c.id);
    expect(ids).toEqual([
      'cellpoint.ctc-track-file',
      'cellpoint.ctc-track-file-writer',
      'cellpoint.plugins',
      'cellpoint.sim-small',
      'cellpoint.sim-gowt1',
      'cellpoint.sim-hard'
    ]);
    expect(registry.readersFor('out/res_track.txt').map(c => c.id)).toEqual([
      'cellpoint.ctc-track-file'
    ]);
    expect(registry.isLoaded('cellpoint.ctc-track-file')).toBe(false);

    const reader = await registry.load<{ read(text: string): unknown[] }>(
      'cellpoint.ctc-track-file'
    );
    expect(reader.read('1 0 4 0\n')).toEqual([{ track_id: 1, start: 0, end: 4, parent_id: 0 }]);
    const writer = await registry.load<{ write(rows: unknown[]): string }>(
      'cellpoint.ctc-track-file-writer'
    );
    expect(writer.write([{ track_id: 2, start: 1, end: 3, parent_id: 0 }])).toBe('2 1 3 0\n');
    expect(registry.isLoaded('cellpoint.plugins')).toBe(false);
  });

  it('open sample data in the kernel by key', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const samples = registry.list('sample_data');
    expect(samples.map(s => s.key)).toEqual(['sim-small', 'sim-gowt1', 'sim-hard']);
    const opener = await registry.load<IKernelSample>('cellpoint.sim-small');
    expect(opener.pythonCode('sim-small')).toBe(`__import__('cellpoint').load_sample("sim-small")`);
  });

  it('provide the plugins widget classes for the ipywidgets module', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const classes = await registry.load<Record<string, { name: string }>>('cellpoint.plugins');
    expect(Object.keys(classes).sort()).toEqual(['PluginsModel', 'PluginsView']);
  });
});
