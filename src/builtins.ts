import { IContributionRegistry } from './host';
import { TrackerSettings } from './settings';

/**
 * cellpoint's own contributions. They go through `IContributionRegistry.register` exactly as a
 * third party's do; each implementation is a separate chunk, fetched on first use.
 */
export const BUILTIN_MANIFEST = {
  name: 'cellpoint',
  display_name: 'cellpoint (built-in)',
  contributions: {
    readers: [
      {
        id: 'cellpoint.ctc-track-file',
        title: 'CTC track file (res_track.txt / man_track.txt)',
        command: 'ctc.read-track-file',
        filename_patterns: ['*_track.txt'],
        accepts_directories: false
      }
    ],
    writers: [
      {
        id: 'cellpoint.ctc-track-file-writer',
        title: 'CTC track file (res_track.txt)',
        display_name: 'CTC res_track.txt',
        command: 'ctc.write-track-file',
        filename_extensions: ['.txt'],
        tables: ['lineage']
      }
    ],
    widgets: [
      {
        id: 'cellpoint.plugins',
        title: 'Plugins and settings',
        display_name: 'cellpoint plugins',
        command: 'widget.plugins'
      }
    ],
    // Made by the simulator in the kernel: `cellpoint.load_sample(key)`.
    sample_data: [
      {
        id: 'cellpoint.sim-small',
        title: 'Simulated nuclei (small)',
        display_name: 'Simulated nuclei (small)',
        command: 'sample.kernel',
        key: 'sim-small'
      },
      {
        id: 'cellpoint.sim-gowt1',
        title: 'Simulated GOWT1-like stem cells',
        display_name: 'Simulated GOWT1-like stem cells',
        command: 'sample.kernel',
        key: 'sim-gowt1'
      },
      {
        id: 'cellpoint.sim-hard',
        title: 'Simulated dense, fast, dividing nuclei',
        display_name: 'Simulated dense, fast, dividing nuclei',
        command: 'sample.kernel',
        key: 'sim-hard'
      }
    ]
  }
};

/** How a kernel-side sample is opened: the Python code that returns it, given its key. */
export interface IKernelSample {
  pythonCode(key: string): string;
}

/** Registers the built-ins; the widget needs the page's registry and settings, so it is bound here. */
export function registerBuiltins(registry: IContributionRegistry, settings: TrackerSettings): void {
  registry.register(BUILTIN_MANIFEST, {
    'ctc.read-track-file': async () => {
      const { parseTrackFile } = await import('./formats/ctc');
      return { read: parseTrackFile };
    },
    'ctc.write-track-file': async () => {
      const { formatTrackFile } = await import('./formats/ctc');
      return { write: formatTrackFile };
    },
    'sample.kernel': async (): Promise<IKernelSample> => ({
      pythonCode: key => `__import__('cellpoint').load_sample(${JSON.stringify(key)})`
    }),
    'widget.plugins': async () => {
      const { createPluginsWidget } = await import('./widget/plugins-widget');
      return createPluginsWidget(registry, settings);
    }
  });
}
