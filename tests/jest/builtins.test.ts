import {
  BUILTIN_MANIFEST,
  IKernelReader,
  IKernelSample,
  IKernelWriter,
  jobDefaults,
  registerBuiltins,
  reviewLayers
} from '../../src/builtins';
import { ContributionRegistry, validateManifest } from '../../src/host';
import { DEFAULT_SETTINGS, TrackerSettings } from '../../src/settings';
import { DEFAULT_RAW_PARAMS } from '../../src/engine/raw';

describe('built-in contributions', () => {
  it('have a manifest that passes the same validation as a third party', () => {
    expect(() => validateManifest(BUILTIN_MANIFEST)).not.toThrow();
  });

  it('register through the registry and load lazily', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const ids = registry.list().map(c => c.id);
    expect(ids).toEqual([
      'cellpoint.cap',
      'cellpoint.ctc-track-file',
      'cellpoint.geff',
      'cellpoint.ctc-track-file-writer',
      'cellpoint.geff-writer',
      'cellpoint.plugins',
      'cellpoint.job',
      'cellpoint.review',
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

  it('offer the CAP tracker, whose defaults are the user settings', () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const [cap] = registry.list('tracker');
    expect(cap?.id).toBe('cellpoint.cap');
    expect(cap?.settings_schema).toMatchObject({ required: ['diameter'] });
    // The schema's defaults are RAW's defaults, so an untouched install tracks as Python does.
    const defaults = jobDefaults(DEFAULT_SETTINGS);
    expect(defaults.backend).toBe('auto');
    expect(defaults.threads).toBe(0);
    expect(defaults.params).toEqual({
      window: DEFAULT_RAW_PARAMS.window,
      detection_threshold: DEFAULT_RAW_PARAMS.detection_threshold,
      visibility_threshold: DEFAULT_RAW_PARAMS.visibility_threshold,
      division_threshold: DEFAULT_RAW_PARAMS.division_threshold,
      sister_threshold: DEFAULT_RAW_PARAMS.sister_threshold,
      min_cycle: DEFAULT_RAW_PARAMS.min_cycle
    });
    const custom = jobDefaults({
      ...DEFAULT_SETTINGS,
      backend: 'wasm',
      threads: 2,
      windowLength: 8
    });
    expect([custom.backend, custom.threads]).toEqual(['wasm', 2]);
    expect(custom.params?.window).toBe(8);
  });

  it('read and write GEFF stores in the kernel', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    // A GEFF store is a folder: it is offered for one, and a CTC track file is not.
    expect(registry.readersFor('out/res.geff', { directory: true }).map(c => c.id)).toEqual([
      'cellpoint.geff'
    ]);
    expect(registry.readersFor('out/res_track.txt').map(c => c.id)).not.toContain('cellpoint.geff');
    expect(registry.get('cellpoint.geff-writer')).toMatchObject({
      kind: 'writer',
      filename_extensions: ['.geff'],
      tables: ['tracks', 'lineage', 'divisions']
    });
    const reader = await registry.load<IKernelReader>('cellpoint.geff');
    expect(reader.pythonCode('out/it "1".geff')).toBe(
      `__import__('cellpoint').TrackingResult.read("out/it \\"1\\".geff")`
    );
    const writer = await registry.load<IKernelWriter>('cellpoint.geff-writer');
    expect(writer.pythonCode('res', 'out/res.geff')).toBe('res.to_geff("out/res.geff")');
    expect(registry.isLoaded('cellpoint.ctc-track-file')).toBe(false);
  });

  it('open sample data in the kernel by key', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const samples = registry.list('sample_data');
    expect(samples.map(s => s.key)).toEqual(['sim-small', 'sim-gowt1', 'sim-hard']);
    const opener = await registry.load<IKernelSample>('cellpoint.sim-small');
    expect(opener.pythonCode('sim-small')).toBe(`__import__('cellpoint').load_sample("sim-small")`);
  });

  it('give the review viewer the layers plugins contribute, and only those', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const heat = { name: 'heatmap', draw: () => undefined };
    registry.register(
      {
        name: 'heat',
        display_name: 'Heat',
        contributions: {
          widgets: [
            {
              id: 'heat.layer',
              title: 'Heatmap',
              display_name: 'Heatmap',
              command: 'heat.layer',
              review_layer: true
            },
            { id: 'heat.panel', title: 'Panel', display_name: 'Panel', command: 'heat.panel' }
          ]
        }
      },
      { 'heat.layer': async () => heat, 'heat.panel': async () => ({}) }
    );
    expect(await reviewLayers(registry)).toEqual([heat]);
    expect(registry.isLoaded('heat.panel')).toBe(false);
    const classes = await registry.load<Record<string, unknown>>('cellpoint.review');
    expect(Object.keys(classes).sort()).toEqual(['ReviewModel', 'ReviewView']);
  });

  it('provide the plugins widget classes for the ipywidgets module', async () => {
    const registry = new ContributionRegistry();
    registerBuiltins(registry, new TrackerSettings());
    const classes = await registry.load<Record<string, { name: string }>>('cellpoint.plugins');
    expect(Object.keys(classes).sort()).toEqual(['PluginsModel', 'PluginsView']);
  });
});
