import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';

import { DEFAULT_RAW_PARAMS } from './engine/raw';

/** Tracker preferences a user sets in JupyterLab's Settings editor (schema/settings/plugin.json). */
export interface ITrackerSettings {
  backend: 'auto' | 'webgpu' | 'wasm';
  threads: number;
  windowLength: number;
  detectionThreshold: number;
  visibilityThreshold: number;
  divisionThreshold: number;
  sisterThreshold: number;
  minCycle: number;
}

/** The schema's defaults (RAW's own, which both hosts share), used until (or where) the
 * setting registry is unavailable. */
export const DEFAULT_SETTINGS: Readonly<ITrackerSettings> = Object.freeze({
  backend: 'auto',
  threads: 0,
  windowLength: DEFAULT_RAW_PARAMS.window,
  detectionThreshold: DEFAULT_RAW_PARAMS.detection_threshold,
  visibilityThreshold: DEFAULT_RAW_PARAMS.visibility_threshold,
  divisionThreshold: DEFAULT_RAW_PARAMS.division_threshold,
  sisterThreshold: DEFAULT_RAW_PARAMS.sister_threshold,
  minCycle: DEFAULT_RAW_PARAMS.min_cycle
});

/** The current tracker settings, kept in step with the setting registry. */
export class TrackerSettings {
  get current(): Readonly<ITrackerSettings> {
    return this._current;
  }

  get changed(): ISignal<this, Readonly<ITrackerSettings>> {
    return this._changed;
  }

  /** Follows a loaded plugin's settings; the registry has validated them against the schema. */
  follow(settings: ISettingRegistry.ISettings): void {
    const update = (): void => {
      this._current = Object.freeze({
        ...DEFAULT_SETTINGS,
        ...(settings.composite as Partial<ITrackerSettings>)
      });
      this._changed.emit(this._current);
    };
    settings.changed.connect(update);
    update();
  }

  private _current: Readonly<ITrackerSettings> = DEFAULT_SETTINGS;
  private _changed = new Signal<this, Readonly<ITrackerSettings>>(this);
}
