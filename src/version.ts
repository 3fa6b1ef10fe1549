import pkg from '../package.json';

/** The npm package name doubles as the ipywidgets module name. */
export const MODULE_NAME = pkg.name;
/** Semver range the Python side must ask for to get these widget classes. */
export const MODULE_VERSION = `^${pkg.version}`;
