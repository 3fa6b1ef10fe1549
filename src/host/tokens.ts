import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

import { Contribution, ContributionKind, ContributionOf, IContributionManifest } from './manifest';

/**
 * Imports one contribution's implementation (typically a dynamic `import()`). Implementations
 * are not typed by the host: their callers agree on a shape with `load<T>`.
 */
export type ContributionLoader = () => Promise<unknown>;

/** What a `changed` signal reports: a plugin's contributions came, went, or were loaded. */
export interface IRegistryChange {
  readonly type: 'registered' | 'unregistered' | 'loaded';
  readonly plugin: string;
  readonly ids: readonly string[];
}

/** The cellpoint plugin host: the contributions every plugin, cellpoint included, registered. */
export interface IContributionRegistry {
  /** Emits when a plugin is registered or unregistered, and when an implementation loads. */
  readonly changed: ISignal<IContributionRegistry, IRegistryChange>;

  /**
   * Validates `manifest` and registers its contributions. `loaders` must hold exactly the
   * manifest's commands. Throws a `ManifestError` listing every problem; disposing the result
   * unregisters the plugin.
   */
  register(manifest: unknown, loaders: Readonly<Record<string, ContributionLoader>>): IDisposable;

  /** The contribution with this id, if registered. */
  get(id: string): Contribution | undefined;

  /** Contributions (of one kind, if given) in registration order. */
  list(): Contribution[];
  list<K extends ContributionKind>(kind: K): ContributionOf<K>[];

  /** Registered manifests in registration order, defaults filled in. */
  manifests(): IContributionManifest[];

  /**
   * Readers with a filename pattern matching `path` (case-insensitive; see the schema), in
   * registration order. With `directory: true`, only readers that accept directories.
   */
  readersFor(path: string, options?: { directory?: boolean }): ContributionOf<'reader'>[];

  /**
   * The contribution's implementation, loaded on first call and cached; concurrent calls share
   * one load. A failed load rejects with a `ContributionLoadError` and the next call retries.
   * `T` is not checked: it is the caller's word for the implementation's shape.
   */
  load<T = unknown>(id: string): Promise<T>;

  /** Whether the contribution's implementation has loaded. */
  isLoaded(id: string): boolean;
}

/** The token other extensions `require` to register contributions or use them. */
export const IContributionRegistry = new Token<IContributionRegistry>(
  'cellpoint:IContributionRegistry',
  'The cellpoint plugin host: registers contribution manifests (trackers, readers, writers, widgets, sample data), lists them and loads their implementations on first use.'
);
