import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import {
  Contribution,
  ContributionKind,
  ContributionOf,
  IContributionManifest,
  ManifestError,
  contributionsOf,
  validateManifest
} from './manifest';
import { ContributionLoader, IContributionRegistry, IRegistryChange } from './tokens';

/** A contribution's implementation failed to load; `cause` holds the loader's error. */
export class ContributionLoadError extends Error {
  constructor(
    readonly contribution: Contribution,
    cause: unknown
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `could not load ${contribution.kind} "${contribution.id}" of plugin "${contribution.plugin}": ${reason}`,
      { cause }
    );
    this.name = 'ContributionLoadError';
  }
}

/** The implementation behind one command of one plugin, shared by the contributions naming it. */
interface ICommandState {
  readonly loader: ContributionLoader;
  readonly plugin: string;
  readonly ids: string[];
  /** Pending or fulfilled load; cleared on failure so that the next call retries. */
  promise?: Promise<unknown>;
  loaded: boolean;
}

interface IEntry {
  readonly contribution: Contribution;
  readonly command: ICommandState;
}

/** The registry behind the `IContributionRegistry` token; its methods are documented there. */
export class ContributionRegistry implements IContributionRegistry {
  get changed(): ISignal<this, IRegistryChange> {
    return this._changed;
  }

  register(manifest: unknown, loaders: Readonly<Record<string, ContributionLoader>>): IDisposable {
    const valid = validateManifest(manifest);
    const plugin = valid.name;
    if (this._manifests.has(plugin)) {
      throw new ManifestError(plugin, [`a plugin named "${plugin}" is already registered`]);
    }
    const problems: string[] = [];
    const commands = new Map<string, ICommandState>();
    const entries: IEntry[] = [];
    const contributions = contributionsOf(valid);
    for (const contribution of contributions) {
      const { id, command: name } = contribution;
      const owner = this._entries.get(id)?.contribution.plugin;
      if (owner !== undefined) {
        problems.push(`id "${id}" is already registered by plugin "${owner}"`);
      }
      const loader = Object.hasOwn(loaders, name) ? loaders[name] : undefined;
      if (typeof loader !== 'function') {
        problems.push(`${contribution.kind} "${id}" has command "${name}", but no loader for it`);
        continue;
      }
      let command = commands.get(name);
      if (command === undefined) {
        command = { loader, plugin, ids: [], loaded: false };
        commands.set(name, command);
      }
      command.ids.push(id);
      entries.push({ contribution, command });
    }
    for (const name of Object.keys(loaders)) {
      if (!contributions.some(c => c.command === name)) {
        problems.push(`loader "${name}" is not the command of any contribution (a typo?)`);
      }
    }
    if (problems.length > 0) {
      throw new ManifestError(plugin, problems);
    }

    this._manifests.set(plugin, valid);
    for (const entry of entries) {
      this._entries.set(entry.contribution.id, entry);
    }
    const ids = entries.map(e => e.contribution.id);
    this._changed.emit({ type: 'registered', plugin, ids });
    return new DisposableDelegate(() => {
      this._manifests.delete(plugin);
      ids.forEach(id => this._entries.delete(id));
      this._changed.emit({ type: 'unregistered', plugin, ids });
    });
  }

  get(id: string): Contribution | undefined {
    return this._entries.get(id)?.contribution;
  }

  list(): Contribution[];
  list<K extends ContributionKind>(kind: K): ContributionOf<K>[];
  list(kind?: ContributionKind): Contribution[] {
    const all = Array.from(this._entries.values(), e => e.contribution);
    return kind === undefined ? all : all.filter(c => c.kind === kind);
  }

  manifests(): IContributionManifest[] {
    return Array.from(this._manifests.values());
  }

  readersFor(path: string, options: { directory?: boolean } = {}): ContributionOf<'reader'>[] {
    return this.list('reader').filter(
      reader =>
        (!options.directory || reader.accepts_directories) &&
        reader.filename_patterns.some(pattern => matchesGlob(pattern, path))
    );
  }

  async load<T = unknown>(id: string): Promise<T> {
    const entry = this._entries.get(id);
    if (entry === undefined) {
      throw new Error(`no contribution "${id}" is registered`);
    }
    try {
      return (await this._loadCommand(entry.command)) as T;
    } catch (cause) {
      throw new ContributionLoadError(entry.contribution, cause);
    }
  }

  isLoaded(id: string): boolean {
    return this._entries.get(id)?.command.loaded ?? false;
  }

  private _loadCommand(command: ICommandState): Promise<unknown> {
    // The loader runs inside the promise so that a synchronous throw is a rejection too.
    command.promise ??= new Promise<unknown>(resolve => resolve(command.loader())).then(
      value => {
        command.loaded = true;
        if (command.ids.some(id => this._entries.get(id)?.command === command)) {
          this._changed.emit({ type: 'loaded', plugin: command.plugin, ids: command.ids });
        }
        return value;
      },
      (error: unknown) => {
        command.promise = undefined;
        throw error;
      }
    );
    return command.promise;
  }

  private _manifests = new Map<string, IContributionManifest>();
  /** Insertion order is registration order. */
  private _entries = new Map<string, IEntry>();
  private _changed = new Signal<this, IRegistryChange>(this);
}

/**
 * Whether a path matches a reader's glob pattern: `*` is any run of characters and `?` one
 * character, neither crossing `/`; everything else is literal. Case is ignored, since file
 * extensions arrive as `.TIF` as often as `.tif`. A pattern without `/` is matched against the
 * last path segment (trailing slashes of a folder dropped), one with `/` against the whole path.
 */
function matchesGlob(pattern: string, path: string): boolean {
  const trimmed = path.replace(/\/+$/, '');
  const subject = pattern.includes('/') ? trimmed : trimmed.slice(trimmed.lastIndexOf('/') + 1);
  const body = Array.from(pattern, char => {
    if (char === '*') {
      return '[^/]*';
    }
    if (char === '?') {
      return '[^/]';
    }
    return char.replace(/[.+^${}()|[\]\\]/, '\\$&');
  }).join('');
  return new RegExp(`^${body}$`, 'iu').test(subject);
}
