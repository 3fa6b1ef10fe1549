import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { registerBuiltins } from './builtins';
import { ContributionRegistry, IContributionRegistry } from './host';
import { TrackerSettings } from './settings';
import { MODULE_NAME, MODULE_VERSION } from './version';

export * from './host';
export type { ITrackerSettings } from './settings';

/** The settings in force for this page, shared by every part of the extension. */
const trackerSettings = new TrackerSettings();

/**
 * The plugin host: provides the contribution registry other extensions require, and follows
 * the user's settings (its id matches schema/settings/plugin.json).
 */
const hostPlugin: JupyterFrontEndPlugin<IContributionRegistry> = {
  id: 'cellpoint:plugin',
  description: 'The cellpoint plugin host: trackers, readers, writers, widgets and sample data.',
  autoStart: true,
  provides: IContributionRegistry,
  optional: [ISettingRegistry],
  activate: (_app: JupyterFrontEnd, settingRegistry: ISettingRegistry | null) => {
    const registry = new ContributionRegistry();
    if (settingRegistry) {
      settingRegistry
        .load(hostPlugin.id)
        .then(settings => trackerSettings.follow(settings))
        .catch(reason => console.error('cellpoint: could not load settings', reason));
    }
    registerBuiltins(registry, trackerSettings);
    return registry;
  }
};

/**
 * Serves the ipywidgets module `cellpoint`: its classes come from the widget contributions,
 * loaded only when a notebook first shows one of them.
 */
const widgetsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'cellpoint:widgets',
  description: 'Registers the cellpoint widgets with Jupyter widgets.',
  autoStart: true,
  requires: [IJupyterWidgetRegistry, IContributionRegistry],
  activate: (
    _app: JupyterFrontEnd,
    widgets: IJupyterWidgetRegistry,
    registry: IContributionRegistry
  ) => {
    widgets.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION.slice(1),
      exports: async () => {
        const builtin = registry.list('widget').filter(c => c.plugin === MODULE_NAME);
        const parts = await Promise.all(builtin.map(c => registry.load<object>(c.id)));
        return Object.assign({}, ...parts);
      }
    });
  }
};

export default [hostPlugin, widgetsPlugin];
