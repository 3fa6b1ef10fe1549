import type { ClientJobOptions, PageFrameSource } from './engine/client';
import type { EngineResult } from './engine/pipeline';
import { IContributionRegistry } from './host';
import { ITrackerSettings, TrackerSettings } from './settings';
import type { IReviewLayer } from './widget/review/draw';

/**
 * cellpoint's own contributions. They go through `IContributionRegistry.register` exactly as a
 * third party's do; each implementation is a separate chunk, fetched on first use.
 */
export const BUILTIN_MANIFEST = {
  name: 'cellpoint',
  display_name: 'cellpoint (built-in)',
  contributions: {
    trackers: [
      {
        id: 'cellpoint.cap',
        title: 'CAP (Cell as Point)',
        command: 'tracker.cap',
        description:
          'Every cell a point, followed jointly through rolling windows by the CAP network ' +
          '(onnxruntime-web: WebGPU, else WebAssembly); divisions from daughter slots.',
        settings_schema: {
          type: 'object',
          properties: {
            diameter: {
              type: 'number',
              exclusiveMinimum: 0,
              description: 'Nucleus diameter in input pixels'
            }
          },
          required: ['diameter']
        }
      }
    ],
    readers: [
      {
        id: 'cellpoint.ctc-track-file',
        title: 'CTC track file (res_track.txt / man_track.txt)',
        command: 'ctc.read-track-file',
        filename_patterns: ['*_track.txt'],
        accepts_directories: false
      },
      // A GEFF store is a zarr folder, which the kernel's `geff` package reads and writes.
      {
        id: 'cellpoint.geff',
        title: 'GEFF graph store (read in the kernel)',
        command: 'geff.read',
        filename_patterns: ['*.geff'],
        accepts_directories: true
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
      },
      {
        id: 'cellpoint.geff-writer',
        title: 'GEFF graph store (written in the kernel)',
        display_name: 'GEFF',
        command: 'geff.write',
        filename_extensions: ['.geff'],
        tables: ['tracks', 'lineage', 'divisions']
      }
    ],
    widgets: [
      {
        id: 'cellpoint.plugins',
        title: 'Plugins and settings',
        display_name: 'cellpoint plugins',
        command: 'widget.plugins'
      },
      {
        id: 'cellpoint.job',
        title: 'Tracking job (progress under the cell)',
        display_name: 'cellpoint tracking job',
        command: 'widget.job'
      },
      {
        id: 'cellpoint.review',
        title: 'Review viewer: frames, tracks, lineage tree, divisions to accept or reject',
        display_name: 'cellpoint review',
        command: 'widget.review'
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

/** How a kernel-side reader opens a path: the Python code that returns its `TrackingResult`. */
export interface IKernelReader {
  pythonCode(path: string): string;
}

/**
 * How a kernel-side writer saves a result: the Python code that writes the `TrackingResult` that
 * the Python expression `result` names to `path`.
 */
export interface IKernelWriter {
  pythonCode(result: string, path: string): string;
}

/** What the CAP tracker contribution offers: a job in the engine's Web Worker. */
export interface ICapTracker {
  /** Tracks `source`; the backend and RAW's knobs default to the user's settings. */
  track(source: PageFrameSource, options: ClientJobOptions): Promise<EngineResult>;
}

/** The user's settings as the engine's job options. */
export function jobDefaults(
  settings: Readonly<ITrackerSettings>
): Omit<ClientJobOptions, 'diameter'> {
  return {
    backend: settings.backend,
    threads: settings.threads,
    params: {
      window: settings.windowLength,
      detection_threshold: settings.detectionThreshold,
      visibility_threshold: settings.visibilityThreshold,
      division_threshold: settings.divisionThreshold,
      sister_threshold: settings.sisterThreshold,
      min_cycle: settings.minCycle
    }
  };
}

/** The review-viewer layers that plugins contribute (widgets marked `review_layer`). */
export async function reviewLayers(registry: IContributionRegistry): Promise<IReviewLayer[]> {
  const marked = registry.list('widget').filter(c => c.review_layer);
  return Promise.all(marked.map(c => registry.load<IReviewLayer>(c.id)));
}

/** Registers the built-ins; the widget needs the page's registry and settings, so it is bound here. */
export function registerBuiltins(registry: IContributionRegistry, settings: TrackerSettings): void {
  registry.register(BUILTIN_MANIFEST, {
    'tracker.cap': async (): Promise<ICapTracker> => {
      const { engineClient } = await import('./engine/assets');
      return {
        track: (source, options) => {
          const defaults = jobDefaults(settings.current);
          return engineClient().track(source, {
            ...defaults,
            ...options,
            params: { ...defaults.params, ...options.params }
          });
        }
      };
    },
    'ctc.read-track-file': async () => {
      const { parseTrackFile } = await import('./formats/ctc');
      return { read: parseTrackFile };
    },
    'ctc.write-track-file': async () => {
      const { formatTrackFile } = await import('./formats/ctc');
      return { write: formatTrackFile };
    },
    'geff.read': async (): Promise<IKernelReader> => ({
      pythonCode: path => `__import__('cellpoint').TrackingResult.read(${JSON.stringify(path)})`
    }),
    'geff.write': async (): Promise<IKernelWriter> => ({
      pythonCode: (result, path) => `${result}.to_geff(${JSON.stringify(path)})`
    }),
    'sample.kernel': async (): Promise<IKernelSample> => ({
      pythonCode: key => `__import__('cellpoint').load_sample(${JSON.stringify(key)})`
    }),
    'widget.plugins': async () => {
      const { createPluginsWidget } = await import('./widget/plugins-widget');
      return createPluginsWidget(registry, settings);
    },
    'widget.job': async () => {
      const { createJobWidget } = await import('./job/job-widget');
      return createJobWidget(registry);
    },
    'widget.review': async () => {
      const { createReviewWidget } = await import('./widget/review/review-widget');
      return createReviewWidget(() => reviewLayers(registry));
    }
  });
}
