/**
 * Checks of what the kernel sends against the contracts both hosts share (the JSON Schemas in
 * schema/; the kernel's side is `cellpoint.contracts`).
 */

import Ajv, { ValidateFunction } from 'ajv';

const ajv = new Ajv({ allErrors: false, strict: false });

/** Where and how the value `validate` last refused breaks its schema. */
function firstError(validate: ValidateFunction): string {
  const first = validate.errors?.[0];
  return `${first?.instancePath ?? ''} ${first?.message ?? ''}`;
}

interface IMessageSchema {
  definitions: Record<string, unknown>;
}

/**
 * A check of kernel messages against `schema`'s definition `direction` (e.g. `toBrowser`): the
 * message if it keeps the contract, else an error saying how it breaks it.
 */
export function messageCheck<T>(schema: IMessageSchema, direction: string): (m: unknown) => T {
  const validate = ajv.compile({
    definitions: schema.definitions,
    $ref: `#/definitions/${direction}`
  });
  return (message: unknown): T => {
    if (!validate(message)) {
      const type = (message as { type?: unknown } | null)?.type;
      throw new Error(
        `the kernel sent a malformed ${JSON.stringify(type)} message: ${firstError(validate)}`.trim()
      );
    }
    return message as T;
  };
}

/**
 * A check of a result's tables against schema/tables.schema.json: nothing if they keep the
 * contract, else an error saying which table and column break it.
 */
export function tablesCheck(schema: object): (tables: unknown) => void {
  const validate = ajv.compile(schema);
  return (tables: unknown): void => {
    if (!validate(tables)) {
      throw new Error(`the tables break their contract: ${firstError(validate)}`.trim());
    }
  };
}
