import { ManifestError, contributionsOf, validateManifest } from '../../src/host';

/** A manifest with one contribution of every kind; tests break one thing at a time. */
function fullManifest(): Record<string, unknown> {
  return {
    name: 'my-plugin',
    display_name: 'My plugin',
    version: '1.2.0-beta.1',
    contributions: {
      trackers: [
        {
          id: 'my-plugin.nearest',
          title: 'Nearest neighbour',
          command: 'track',
          description: 'Links each point to the nearest one in the next frame.',
          settings_schema: {
            type: 'object',
            properties: { max_distance: { type: 'number', default: 10 } }
          }
        }
      ],
      readers: [
        {
          id: 'my-plugin.csv',
          title: 'CSV tracks',
          command: 'read',
          filename_patterns: ['*.csv'],
          accepts_directories: false
        }
      ],
      writers: [
        {
          id: 'my-plugin.csv-writer',
          title: 'CSV tracks',
          command: 'write',
          display_name: 'Tracks as CSV',
          filename_extensions: ['.csv'],
          tables: ['tracks', 'lineage']
        }
      ],
      widgets: [
        { id: 'my-plugin.viewer', title: 'Viewer', command: 'view', display_name: 'Viewer' }
      ],
      sample_data: [
        {
          id: 'my-plugin.sample.hela',
          title: 'HeLa',
          command: 'sample',
          key: 'hela',
          display_name: 'HeLa cells, 92 frames'
        }
      ]
    }
  };
}

/** The problems `validateManifest` reports for `manifest` (fails the test if it passes). */
function problemsOf(manifest: unknown): readonly string[] {
  try {
    validateManifest(manifest);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as ManifestError).problems;
  }
  throw new Error('the manifest was accepted');
}

type Json = Record<string, unknown>;

/** `fullManifest()` with `edit` applied to its `contributions`. */
function withContributions(edit: (contributions: Record<string, Json[]>) => void): Json {
  const manifest = fullManifest();
  edit(manifest.contributions as Record<string, Json[]>);
  return manifest;
}

/** The first entry of a contribution list, asserting it exists. */
function first(list: Json[] | undefined): Json {
  const entry = list?.[0];
  if (entry === undefined) {
    throw new Error('no such entry');
  }
  return entry;
}

describe('validateManifest', () => {
  it('accepts a manifest with every kind of contribution', () => {
    const valid = validateManifest(fullManifest());
    expect(valid.name).toBe('my-plugin');
    expect(contributionsOf(valid).map(c => [c.kind, c.id, c.plugin])).toEqual([
      ['tracker', 'my-plugin.nearest', 'my-plugin'],
      ['reader', 'my-plugin.csv', 'my-plugin'],
      ['writer', 'my-plugin.csv-writer', 'my-plugin'],
      ['widget', 'my-plugin.viewer', 'my-plugin'],
      ['sample_data', 'my-plugin.sample.hela', 'my-plugin']
    ]);
  });

  it('accepts a scoped package name and no optional fields', () => {
    const valid = validateManifest({
      name: '@lab/cells',
      display_name: 'Cells',
      contributions: {
        widgets: [{ id: '@lab/cells.w', title: 'W', command: 'w', display_name: 'W' }]
      }
    });
    expect(valid.version).toBeUndefined();
  });

  it('fills in defaults on a copy and leaves the input alone', () => {
    const input = withContributions(c => {
      delete first(c.trackers).settings_schema;
      delete first(c.readers).accepts_directories;
    });
    const snapshot = JSON.stringify(input);
    const valid = validateManifest(input);
    expect(valid.contributions.trackers?.[0]?.settings_schema).toEqual({});
    expect(valid.contributions.readers?.[0]?.accepts_directories).toBe(false);
    expect(JSON.stringify(input)).toBe(snapshot);
    expect(valid).not.toBe(input);
  });

  it('names the plugin and the path of a missing field', () => {
    const manifest = withContributions(c => delete first(c.readers).filename_patterns);
    expect(() => validateManifest(manifest)).toThrow(
      'my-plugin: contributions.readers[0]: missing required field "filename_patterns"'
    );
  });

  it('reports missing top-level fields without a path', () => {
    const manifest = fullManifest();
    delete manifest.display_name;
    delete manifest.contributions;
    expect(problemsOf(manifest)).toEqual([
      'missing required field "display_name"',
      'missing required field "contributions"'
    ]);
  });

  it('reports wrong types with what was found', () => {
    const manifest = withContributions(c => {
      first(c.trackers).title = 42;
      first(c.readers).accepts_directories = 'yes';
      first(c.writers).filename_extensions = '.csv';
    });
    expect(problemsOf(manifest)).toEqual([
      'contributions.trackers[0].title: must be a string, got a number',
      'contributions.readers[0].accepts_directories: must be a boolean, got a string',
      'contributions.writers[0].filename_extensions: must be an array, got a string'
    ]);
  });

  it('rejects anything but an object, naming no plugin', () => {
    expect(() => validateManifest(undefined)).toThrow('manifest: must be an object, got undefined');
    expect(() => validateManifest([])).toThrow('manifest: must be an object, got an array');
  });

  it('rejects a value that is not JSON data', () => {
    const cyclic = fullManifest();
    cyclic.self = cyclic;
    expect(() => validateManifest(cyclic)).toThrow(/^manifest: is not JSON data: /);
  });

  it('rejects an unknown contribution kind and lists the known ones', () => {
    const manifest = withContributions(c => {
      c.exporters = [];
    });
    expect(problemsOf(manifest)).toEqual([
      'contributions: unknown contribution kind "exporters" (known: trackers, readers, writers, widgets, sample_data)'
    ]);
  });

  it('rejects unknown fields at the top level and in a contribution', () => {
    const manifest = withContributions(c => {
      first(c.widgets).icon = 'x.svg';
    });
    manifest.homepage = 'https://example.org';
    expect(problemsOf(manifest)).toEqual([
      'unknown top-level field "homepage" (known: name, display_name, version, contributions)',
      'contributions.widgets[0]: unknown field "icon" (known: id, title, command, display_name, review_layer)'
    ]);
  });

  it('explains malformed names, ids and versions in words', () => {
    const manifest = withContributions(c => {
      first(c.readers).id = 'my-plugin.CSV';
    });
    manifest.name = 'My Plugin';
    manifest.version = 'v1';
    const problems = problemsOf(manifest);
    expect(problems).toContain(
      'name: "My Plugin" is not a lowercase npm package name such as "my-plugin" or "@my-org/my-plugin"'
    );
    expect(problems).toContain('version: "v1" is not a semantic version such as "1.2.0"');
    expect(problems).toContainEqual(
      expect.stringMatching(
        /^contributions\.readers\[0\]\.id: "my-plugin\.CSV" is not "<plugin name>\.<short-id>" in lowercase/
      )
    );
  });

  it('checks enums, empty lists and repeated values', () => {
    const manifest = withContributions(c => {
      first(c.writers).tables = ['tracks', 'masks', 'tracks'];
      first(c.writers).filename_extensions = ['csv'];
      first(c.readers).filename_patterns = [];
    });
    expect(problemsOf(manifest)).toEqual([
      'contributions.readers[0].filename_patterns: must not be empty',
      'contributions.writers[0].filename_extensions[0]: "csv" is not a file name extension such as ".csv" or ".tar.gz"',
      'contributions.writers[0].tables[1]: must be one of "tracks", "lineage", "divisions", got "masks"',
      'contributions.writers[0].tables: lists the same value twice (items 0 and 2)'
    ]);
  });

  it('checks that a tracker settings schema is a JSON Schema object', () => {
    const notObject = withContributions(c => {
      first(c.trackers).settings_schema = true;
    });
    expect(problemsOf(notObject)).toEqual([
      'contributions.trackers[0].settings_schema: must be an object, got a boolean'
    ]);
    const badType = withContributions(c => {
      first(c.trackers).settings_schema = { type: 'integr' };
    });
    expect(problemsOf(badType).length).toBeGreaterThan(0);
    expect(problemsOf(badType)).toContainEqual(
      expect.stringMatching(/^contributions\.trackers\[0\]\.settings_schema\.type: /)
    );
  });

  it('rejects duplicate ids within the manifest, across kinds', () => {
    const manifest = withContributions(c => {
      first(c.writers).id = 'my-plugin.csv';
    });
    expect(problemsOf(manifest)).toEqual([
      'contributions.writers[0].id: duplicate id "my-plugin.csv", already used by contributions.readers[0].id'
    ]);
  });

  it('rejects ids not prefixed by the plugin name', () => {
    const manifest = withContributions(c => {
      first(c.widgets).id = 'other-plugin.viewer';
      first(c.trackers).id = 'my-pluginx.nearest';
    });
    expect(problemsOf(manifest)).toEqual([
      'contributions.trackers[0].id: id "my-pluginx.nearest" must start with the plugin name, "my-plugin."',
      'contributions.widgets[0].id: id "other-plugin.viewer" must start with the plugin name, "my-plugin."'
    ]);
  });

  it('lists schema problems and id problems together, one per line', () => {
    const manifest = withContributions(c => {
      delete first(c.widgets).display_name;
      first(c.readers).id = 'elsewhere.csv';
    });
    let message = '';
    try {
      validateManifest(manifest);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'my-plugin: contributions.widgets[0]: missing required field "display_name"',
      'my-plugin: contributions.readers[0].id: id "elsewhere.csv" must start with the plugin name, "my-plugin."'
    ]);
  });
});
