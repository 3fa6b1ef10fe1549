import { ReadonlyJSONObject } from '@lumino/coreutils';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';

import schema from '../../schema/contribution-manifest.schema.json';

/** Fields every contribution declares. */
export interface IContributionBase {
  /** `<plugin name>.<short-id>`, unique across all registered plugins. */
  readonly id: string;
  readonly title: string;
  /** Key of the loader, supplied at registration, that imports the implementation. */
  readonly command: string;
}

/** A tracking method. */
export interface ITrackerContribution extends IContributionBase {
  /** JSON Schema (draft-07) of the tracker's options; `{}` when the manifest gives none. */
  readonly settings_schema: ReadonlyJSONObject;
  readonly description?: string;
}

/** Opens files (or folders) whose names match one of `filename_patterns`. */
export interface IReaderContribution extends IContributionBase {
  readonly filename_patterns: readonly string[];
  /** `false` when the manifest does not say. */
  readonly accepts_directories: boolean;
}

/** The result tables a writer can save. */
export type TableName = 'tracks' | 'lineage' | 'divisions';

/** Saves some of the result tables. */
export interface IWriterContribution extends IContributionBase {
  readonly display_name: string;
  /** Such as `".csv"`; empty where the writer writes a folder or any name. */
  readonly filename_extensions: readonly string[];
  readonly tables: readonly TableName[];
}

/** A view of a tracking result or of cellpoint itself. */
export interface IWidgetContribution extends IContributionBase {
  readonly display_name: string;
  /** The implementation is a review-viewer layer (`IReviewLayer`), listed in its layer list. */
  readonly review_layer?: boolean;
}

/** A data set a user opens by `key`. */
export interface ISampleDataContribution extends IContributionBase {
  readonly key: string;
  readonly display_name: string;
  readonly description?: string;
}

/** The contribution lists of a manifest, one per kind. */
export interface IContributions {
  readonly trackers?: readonly ITrackerContribution[];
  readonly readers?: readonly IReaderContribution[];
  readonly writers?: readonly IWriterContribution[];
  readonly widgets?: readonly IWidgetContribution[];
  readonly sample_data?: readonly ISampleDataContribution[];
}

/** A validated manifest (schema/contribution-manifest.schema.json), defaults filled in. */
export interface IContributionManifest {
  /** npm-like package name; every contribution id starts with it and a dot. */
  readonly name: string;
  readonly display_name: string;
  readonly version?: string;
  readonly contributions: IContributions;
}

/** Each contribution kind and the manifest entry that declares it. */
export interface IContributionKindMap {
  tracker: ITrackerContribution;
  reader: IReaderContribution;
  writer: IWriterContribution;
  widget: IWidgetContribution;
  sample_data: ISampleDataContribution;
}

export type ContributionKind = keyof IContributionKindMap;

/** A registered contribution of kind `K`: its manifest entry, its kind and its plugin's name. */
export type ContributionOf<K extends ContributionKind> = IContributionKindMap[K] & {
  readonly kind: K;
  readonly plugin: string;
};

/** Any registered contribution; `kind` tells which. */
export type Contribution = { [K in ContributionKind]: ContributionOf<K> }[ContributionKind];

/** The manifest's `contributions` key for each kind, in the order contributions are listed. */
const SECTION_KIND = {
  trackers: 'tracker',
  readers: 'reader',
  writers: 'writer',
  widgets: 'widget',
  sample_data: 'sample_data'
} as const satisfies Record<keyof IContributions, ContributionKind>;

type Section = keyof typeof SECTION_KIND;

const SECTIONS = Object.keys(SECTION_KIND) as Section[];

/** A manifest that cannot be registered; `problems` holds one plain sentence per problem. */
export class ManifestError extends Error {
  constructor(
    readonly plugin: string,
    readonly problems: readonly string[]
  ) {
    super(problems.map(problem => `${plugin}: ${problem}`).join('\n'));
    this.name = 'ManifestError';
  }
}

/**
 * Checks a manifest against the schema, and that its ids are unique and start with its name.
 * Returns a copy with the schema's defaults filled in; throws a `ManifestError` listing every
 * problem found.
 */
export function validateManifest(manifest: unknown): IContributionManifest {
  let copy: unknown;
  try {
    // A manifest is JSON: validate (and keep) its JSON form, not the caller's object.
    const text = JSON.stringify(manifest);
    copy = text === undefined ? undefined : JSON.parse(text);
  } catch (error) {
    throw new ManifestError('manifest', [`is not JSON data: ${String(error)}`]);
  }
  const validate = validator();
  const idIssues = idProblems(copy);
  if (validate(copy) && idIssues.length === 0) {
    return copy;
  }
  const name = isRecord(copy) && typeof copy.name === 'string' ? copy.name : 'manifest';
  throw new ManifestError(name, [...(validate.errors ?? []).map(describeError), ...idIssues]);
}

/**
 * The manifest's contributions, each tagged with its kind and plugin: kind by kind (trackers,
 * readers, writers, widgets, sample data), each kind in manifest order.
 */
export function contributionsOf(manifest: IContributionManifest): Contribution[] {
  return SECTIONS.flatMap(section =>
    (manifest.contributions[section] ?? []).map(
      entry => ({ ...entry, kind: SECTION_KIND[section], plugin: manifest.name }) as Contribution
    )
  );
}

let compiled: ValidateFunction<IContributionManifest> | undefined;

/** The schema's validator, compiled on first use. */
function validator(): ValidateFunction<IContributionManifest> {
  compiled ??= new Ajv({ allErrors: true, useDefaults: true, verbose: true }).compile(schema);
  return compiled;
}

/** What the schema cannot say: ids are unique within the manifest and prefixed by its name. */
function idProblems(manifest: unknown): string[] {
  if (!isRecord(manifest) || !isRecord(manifest.contributions)) {
    return [];
  }
  const prefix = typeof manifest.name === 'string' ? `${manifest.name}.` : undefined;
  const firstUse = new Map<string, string>();
  const problems: string[] = [];
  for (const section of SECTIONS) {
    const entries = manifest.contributions[section];
    if (!Array.isArray(entries)) {
      continue;
    }
    entries.forEach((entry: unknown, index) => {
      if (!isRecord(entry) || typeof entry.id !== 'string') {
        return;
      }
      const path = `contributions.${section}[${index}].id`;
      const first = firstUse.get(entry.id);
      if (first === undefined) {
        firstUse.set(entry.id, path);
      } else {
        problems.push(`${path}: duplicate id "${entry.id}", already used by ${first}`);
      }
      if (prefix !== undefined && !entry.id.startsWith(prefix)) {
        problems.push(`${path}: id "${entry.id}" must start with the plugin name, "${prefix}"`);
      }
    });
  }
  return problems;
}

/** One ajv error as `path: plain sentence`. */
function describeError(error: ErrorObject): string {
  const path = formatPath(error.instancePath);
  const text = describeKeyword(error);
  return path === '' ? text : `${path}: ${text}`;
}

function describeKeyword(error: ErrorObject): string {
  const { keyword, params, data, parentSchema, instancePath } = error;
  switch (keyword) {
    case 'required':
      return `missing required field "${String(params.missingProperty)}"`;
    case 'additionalProperties': {
      const what =
        instancePath === ''
          ? 'top-level field'
          : instancePath === '/contributions'
            ? 'contribution kind'
            : 'field';
      const known = Object.keys(parentSchema?.properties ?? {}).join(', ');
      return `unknown ${what} "${String(params.additionalProperty)}" (known: ${known})`;
    }
    case 'type': {
      const expected = String(params.type).split(',').map(withArticle).join(' or ');
      return `must be ${expected}, got ${typeOf(data)}`;
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(v => JSON.stringify(v)).join(', ');
      return `must be one of ${allowed}, got ${JSON.stringify(data)}`;
    }
    case 'pattern': {
      const expected = parentSchema?.description;
      return typeof expected === 'string'
        ? `${JSON.stringify(data)} is not ${expected}`
        : `${JSON.stringify(data)} does not match /${String(params.pattern)}/`;
    }
    case 'uniqueItems':
      return `lists the same value twice (items ${String(params.j)} and ${String(params.i)})`;
    case 'minItems':
    case 'minLength':
      if (params.limit === 1) {
        return 'must not be empty';
      }
      break;
  }
  return error.message ?? `fails "${keyword}"`;
}

/** `/contributions/readers/0` as `contributions.readers[0]`. */
function formatPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map(segment => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce(
      (path, key) => (/^\d+$/.test(key) ? `${path}[${key}]` : path ? `${path}.${key}` : key),
      ''
    );
}

function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** JSON's name for a value's type, with an article. */
function typeOf(value: unknown): string {
  if (value === null || value === undefined) {
    return String(value);
  }
  return withArticle(Array.isArray(value) ? 'array' : typeof value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
