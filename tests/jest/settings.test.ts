import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { Signal } from '@lumino/signaling';

import { DEFAULT_SETTINGS, ITrackerSettings, TrackerSettings } from '../../src/settings';
import schema from '../../schema/settings/plugin.json';

/** The part of a loaded plugin's settings TrackerSettings reads: its values and their changes. */
class FakePluginSettings {
  composite: Partial<ITrackerSettings> = {};
  changed = new Signal<this, void>(this);
}

describe('tracker settings', () => {
  it('default to the settings schema defaults', () => {
    const fromSchema = Object.fromEntries(
      Object.entries(schema.properties).map(([key, prop]) => [key, prop.default])
    );
    expect(DEFAULT_SETTINGS).toEqual(fromSchema);
    expect(new TrackerSettings().current).toEqual(fromSchema);
  });

  it('follow the setting registry and signal each change', () => {
    const plugin = new FakePluginSettings();
    plugin.composite = { windowLength: 32 };
    const settings = new TrackerSettings();
    const seen: number[] = [];
    settings.changed.connect((_, value) => seen.push(value.windowLength));
    settings.follow(plugin as unknown as ISettingRegistry.ISettings);
    expect(settings.current.windowLength).toBe(32);
    expect(settings.current.backend).toBe('auto');

    plugin.composite = { windowLength: 48, backend: 'wasm' };
    plugin.changed.emit();
    expect(settings.current).toMatchObject({ windowLength: 48, backend: 'wasm' });
    expect(seen).toEqual([32, 48]);
  });
});
