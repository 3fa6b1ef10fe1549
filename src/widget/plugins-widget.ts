import { DOMWidgetModel, DOMWidgetView, ISerializers } from '@jupyter-widgets/base';

import { IContributionRegistry } from '../host';
import { TrackerSettings } from '../settings';
import { MODULE_NAME, MODULE_VERSION } from '../version';
import { IContributionSummary, PluginsPanel, definePluginsPanel } from './plugins-panel';

/** Summaries of every registered contribution, in registration order. */
export function summarise(registry: IContributionRegistry): IContributionSummary[] {
  return registry.list().map(c => ({
    kind: c.kind,
    id: c.id,
    title: c.title,
    plugin: c.plugin,
    loaded: registry.isLoaded(c.id)
  }));
}

/**
 * Widget classes for `cellpoint.plugins()`, bound to this page's registry and settings. The view
 * also writes what it shows back to the model, so the kernel can read the browser's registry.
 */
export function createPluginsWidget(
  registry: IContributionRegistry,
  settings: TrackerSettings
): { PluginsModel: typeof DOMWidgetModel; PluginsView: typeof DOMWidgetView } {
  definePluginsPanel();

  class PluginsModel extends DOMWidgetModel {
    defaults(): Backbone.ObjectHash {
      return {
        ...super.defaults(),
        _model_name: 'PluginsModel',
        _model_module: MODULE_NAME,
        _model_module_version: MODULE_VERSION,
        _view_name: 'PluginsView',
        _view_module: MODULE_NAME,
        _view_module_version: MODULE_VERSION,
        contributions: [],
        settings: {}
      };
    }

    static serializers: ISerializers = { ...DOMWidgetModel.serializers };
  }

  class PluginsView extends DOMWidgetView {
    render(): void {
      this._panel = document.createElement('cellpoint-plugins') as PluginsPanel;
      this.el.classList.add('cellpoint-plugins-widget');
      this.el.appendChild(this._panel);
      registry.changed.connect(this._refresh, this);
      settings.changed.connect(this._refresh, this);
      this._refresh();
    }

    remove(): void {
      registry.changed.disconnect(this._refresh, this);
      settings.changed.disconnect(this._refresh, this);
      super.remove();
    }

    private _refresh(): void {
      const contributions = summarise(registry);
      const current = { ...settings.current };
      this._panel.contributions = contributions;
      this._panel.settings = current;
      this.model.set({ contributions, settings: current });
      this.model.save_changes();
    }

    private _panel!: PluginsPanel;
  }

  return { PluginsModel, PluginsView };
}
