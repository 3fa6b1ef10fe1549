import {
  ContributionLoadError,
  ContributionLoader,
  ContributionRegistry,
  IContributionRegistry,
  IRegistryChange,
  ManifestError
} from '../../src/host';

/** A manifest of widgets `<name>.<short>`, each with the command `<short>`. */
function widgets(name: string, ...shorts: string[]): Record<string, unknown> {
  return {
    name,
    display_name: name,
    contributions: {
      widgets: shorts.map(short => ({
        id: `${name}.${short}`,
        title: short,
        command: short,
        display_name: short
      }))
    }
  };
}

/** A loader for each command, resolving to `{ command }`. */
function loadersFor(...commands: string[]): Record<string, jest.Mock<Promise<unknown>, []>> {
  return Object.fromEntries(commands.map(command => [command, jest.fn(async () => ({ command }))]));
}

const READERS = {
  name: 'readers',
  display_name: 'Readers',
  contributions: {
    readers: [
      { id: 'readers.tif', title: 'TIFF', command: 'tif', filename_patterns: ['*.tif', '*.tiff'] },
      { id: 'readers.ctc', title: 'CTC', command: 'ctc', filename_patterns: ['*_track.txt'] },
      {
        id: 'readers.sequence',
        title: 'Numbered frames',
        command: 'seq',
        filename_patterns: ['t???.tif', '[01]*'],
        accepts_directories: true
      },
      { id: 'readers.nested', title: 'Nested', command: 'nested', filename_patterns: ['*/01/*'] }
    ]
  }
};

/** The message of the error `register` throws (fails the test if it does not). */
function registrationError(
  registry: ContributionRegistry,
  manifest: unknown,
  loaders: Record<string, ContributionLoader>
): string {
  try {
    registry.register(manifest, loaders);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as Error).message;
  }
  throw new Error('the registration was accepted');
}

describe('ContributionRegistry', () => {
  let registry: ContributionRegistry;
  let changes: IRegistryChange[];

  beforeEach(() => {
    registry = new ContributionRegistry();
    changes = [];
    registry.changed.connect((_, change) => changes.push(change));
  });

  describe('register', () => {
    it('registers every contribution with its kind and plugin', () => {
      const registry: IContributionRegistry = new ContributionRegistry();
      registry.register(READERS, loadersFor('tif', 'ctc', 'seq', 'nested'));
      expect(registry.get('readers.ctc')).toMatchObject({
        kind: 'reader',
        plugin: 'readers',
        title: 'CTC',
        accepts_directories: false
      });
      expect(registry.get('readers.none')).toBeUndefined();
      expect(registry.manifests().map(m => m.name)).toEqual(['readers']);
    });

    it('lists contributions in registration order, optionally of one kind', () => {
      registry.register(widgets('a', 'one', 'two'), loadersFor('one', 'two'));
      registry.register(READERS, loadersFor('tif', 'ctc', 'seq', 'nested'));
      registry.register(widgets('b', 'three'), loadersFor('three'));
      expect(registry.list('widget').map(c => c.id)).toEqual(['a.one', 'a.two', 'b.three']);
      expect(registry.list('reader').map(c => c.id)).toEqual([
        'readers.tif',
        'readers.ctc',
        'readers.sequence',
        'readers.nested'
      ]);
      expect(registry.list().map(c => c.id)).toEqual([
        'a.one',
        'a.two',
        'readers.tif',
        'readers.ctc',
        'readers.sequence',
        'readers.nested',
        'b.three'
      ]);
      expect(registry.list('tracker')).toEqual([]);
      expect(registry.manifests().map(m => m.name)).toEqual(['a', 'readers', 'b']);
    });

    it('emits changed with the plugin and its ids', () => {
      registry.register(widgets('a', 'one', 'two'), loadersFor('one', 'two'));
      expect(changes).toEqual([{ type: 'registered', plugin: 'a', ids: ['a.one', 'a.two'] }]);
    });

    it('rejects an invalid manifest and registers nothing', () => {
      const manifest = widgets('a', 'one');
      delete manifest.display_name;
      expect(registrationError(registry, manifest, loadersFor('one'))).toBe(
        'a: missing required field "display_name"'
      );
      expect(registry.list()).toEqual([]);
      expect(changes).toEqual([]);
    });

    it('rejects a command without a loader', () => {
      expect(registrationError(registry, widgets('a', 'one', 'two'), loadersFor('one'))).toBe(
        'a: widget "a.two" has command "two", but no loader for it'
      );
      expect(registry.list()).toEqual([]);
    });

    it('does not take inherited properties for loaders', () => {
      expect(registrationError(registry, widgets('a', 'constructor'), {})).toBe(
        'a: widget "a.constructor" has command "constructor", but no loader for it'
      );
    });

    it('rejects a loader that is not a function, as a plain-JS caller might pass', () => {
      const loaders = { one: 'one.js' } as unknown as Record<string, ContributionLoader>;
      expect(registrationError(registry, widgets('a', 'one'), loaders)).toBe(
        'a: widget "a.one" has command "one", but no loader for it'
      );
    });

    it('rejects a loader no contribution uses', () => {
      expect(registrationError(registry, widgets('a', 'one'), loadersFor('one', 'onne'))).toBe(
        'a: loader "onne" is not the command of any contribution (a typo?)'
      );
      expect(registry.list()).toEqual([]);
    });

    it('rejects a plugin name that is already registered', () => {
      registry.register(widgets('a', 'one'), loadersFor('one'));
      expect(registrationError(registry, widgets('a', 'two'), loadersFor('two'))).toBe(
        'a: a plugin named "a" is already registered'
      );
      expect(registry.list().map(c => c.id)).toEqual(['a.one']);
    });

    it('rejects an id another plugin registered, naming both plugins', () => {
      // Plugin "a" may use the dotted short id "b.c", which is also plugin "a.b"'s id "c".
      registry.register(widgets('a', 'b.c'), loadersFor('b.c'));
      expect(registrationError(registry, widgets('a.b', 'c', 'd'), loadersFor('c', 'd'))).toBe(
        'a.b: id "a.b.c" is already registered by plugin "a"'
      );
      expect(registry.get('a.b.c')?.plugin).toBe('a');
      expect(registry.get('a.b.d')).toBeUndefined();
    });

    it('reports every registration problem at once', () => {
      registry.register(widgets('a', 'b.c'), loadersFor('b.c'));
      const message = registrationError(registry, widgets('a.b', 'c', 'd'), loadersFor('c', 'x'));
      expect(message.split('\n')).toEqual([
        'a.b: id "a.b.c" is already registered by plugin "a"',
        'a.b: widget "a.b.d" has command "d", but no loader for it',
        'a.b: loader "x" is not the command of any contribution (a typo?)'
      ]);
    });
  });

  describe('dispose', () => {
    it('unregisters the plugin and emits changed once', () => {
      registry.register(widgets('a', 'one'), loadersFor('one'));
      const b = registry.register(widgets('b', 'two', 'three'), loadersFor('two', 'three'));
      changes.length = 0;
      b.dispose();
      b.dispose();
      expect(b.isDisposed).toBe(true);
      expect(changes).toEqual([{ type: 'unregistered', plugin: 'b', ids: ['b.two', 'b.three'] }]);
      expect(registry.get('b.two')).toBeUndefined();
      expect(registry.list().map(c => c.id)).toEqual(['a.one']);
      expect(registry.manifests().map(m => m.name)).toEqual(['a']);
    });

    it('frees the name and ids for a new registration', async () => {
      registry.register(widgets('a', 'one'), loadersFor('one')).dispose();
      const loaders = loadersFor('one');
      registry.register(widgets('a', 'one'), loaders);
      await expect(registry.load('a.one')).resolves.toEqual({ command: 'one' });
      expect(loaders.one).toHaveBeenCalledTimes(1);
    });
  });

  describe('load', () => {
    it('does not call loaders at registration', () => {
      const loaders = loadersFor('one', 'two');
      registry.register(widgets('a', 'one', 'two'), loaders);
      expect(loaders.one).not.toHaveBeenCalled();
      expect(loaders.two).not.toHaveBeenCalled();
      expect(registry.isLoaded('a.one')).toBe(false);
    });

    it('calls the loader once for concurrent and later calls, and caches the result', async () => {
      const loaders = loadersFor('one');
      registry.register(widgets('a', 'one'), loaders);
      const [first, second] = await Promise.all([
        registry.load<{ command: string }>('a.one'),
        registry.load<{ command: string }>('a.one')
      ]);
      expect(first).toEqual({ command: 'one' });
      expect(second).toBe(first);
      expect(await registry.load('a.one')).toBe(first);
      expect(loaders.one).toHaveBeenCalledTimes(1);
      expect(registry.isLoaded('a.one')).toBe(true);
    });

    it('loads a command shared by two contributions once', async () => {
      const loader = jest.fn(async () => 'shared');
      const manifest = {
        name: 'a',
        display_name: 'A',
        contributions: {
          readers: [{ id: 'a.read', title: 'R', command: 'io', filename_patterns: ['*.x'] }],
          writers: [
            {
              id: 'a.write',
              title: 'W',
              command: 'io',
              display_name: 'W',
              filename_extensions: ['.x'],
              tables: ['tracks']
            }
          ]
        }
      };
      registry.register(manifest, { io: loader });
      expect(await registry.load('a.read')).toBe('shared');
      expect(registry.isLoaded('a.write')).toBe(true);
      expect(await registry.load('a.write')).toBe('shared');
      expect(loader).toHaveBeenCalledTimes(1);
    });

    it('emits changed when an implementation has loaded', async () => {
      registry.register(widgets('a', 'one'), loadersFor('one'));
      changes.length = 0;
      await Promise.all([registry.load('a.one'), registry.load('a.one')]);
      expect(changes).toEqual([{ type: 'loaded', plugin: 'a', ids: ['a.one'] }]);
    });

    it('reports a failure with the contribution and the plugin, then retries', async () => {
      const cause = new Error('chunk failed to load');
      const loader = jest
        .fn<Promise<unknown>, []>()
        .mockRejectedValueOnce(cause)
        .mockResolvedValueOnce('ok');
      registry.register(widgets('a', 'one'), { one: loader });

      const failures = await Promise.allSettled([registry.load('a.one'), registry.load('a.one')]);
      expect(loader).toHaveBeenCalledTimes(1);
      for (const failure of failures) {
        expect(failure.status).toBe('rejected');
        const error = (failure as PromiseRejectedResult).reason as ContributionLoadError;
        expect(error).toBeInstanceOf(ContributionLoadError);
        expect(error.message).toBe(
          'could not load widget "a.one" of plugin "a": chunk failed to load'
        );
        expect(error.cause).toBe(cause);
        expect(error.contribution.id).toBe('a.one');
      }
      expect(registry.isLoaded('a.one')).toBe(false);

      await expect(registry.load('a.one')).resolves.toBe('ok');
      expect(loader).toHaveBeenCalledTimes(2);
      expect(registry.isLoaded('a.one')).toBe(true);
    });

    it('treats a loader that throws synchronously as a failed load', async () => {
      registry.register(widgets('a', 'one'), {
        one: () => {
          throw new Error('boom');
        }
      });
      await expect(registry.load('a.one')).rejects.toThrow(
        'could not load widget "a.one" of plugin "a": boom'
      );
    });

    it('rejects an unknown id', async () => {
      await expect(registry.load('a.none')).rejects.toThrow(
        'no contribution "a.none" is registered'
      );
      expect(registry.isLoaded('a.none')).toBe(false);
    });
  });

  describe('readersFor', () => {
    beforeEach(() => {
      registry.register(READERS, loadersFor('tif', 'ctc', 'seq', 'nested'));
    });

    const ids = (path: string, options?: { directory?: boolean }): string[] =>
      registry.readersFor(path, options).map(r => r.id);

    it('matches "*" patterns against the file name, ignoring case', () => {
      expect(ids('movie.tif')).toEqual(['readers.tif']);
      expect(ids('data/exp 1/movie.TIFF')).toEqual(['readers.tif']);
      expect(ids('01_GT/TRA/man_track.txt')).toEqual(['readers.ctc']);
    });

    it('does not match other names', () => {
      expect(ids('movie.tif.bak')).toEqual([]);
      expect(ids('movie_tif')).toEqual([]);
      expect(ids('track.txt')).toEqual([]);
      expect(ids('')).toEqual([]);
    });

    it('matches "?" as exactly one character, in registration order', () => {
      expect(ids('t001.tif')).toEqual(['readers.tif', 'readers.sequence']);
      expect(ids('t01.tif')).toEqual(['readers.tif']);
      expect(ids('t0001.tif')).toEqual(['readers.tif']);
    });

    it('takes other characters literally', () => {
      expect(ids('[01]frames')).toEqual(['readers.sequence']);
      expect(ids('0frames')).toEqual([]);
    });

    it('matches a pattern with "/" against the whole path, "*" not crossing "/"', () => {
      expect(ids('Fluo-N2DH-GOWT1/01/t000.tif')).toEqual([
        'readers.tif',
        'readers.sequence',
        'readers.nested'
      ]);
      expect(ids('data/Fluo-N2DH-GOWT1/01/t000.tif')).toEqual(['readers.tif', 'readers.sequence']);
    });

    it('offers only readers that accept directories for a directory', () => {
      expect(ids('[01]frames/', { directory: true })).toEqual(['readers.sequence']);
      expect(ids('movie.tif', { directory: true })).toEqual([]);
    });
  });
});
