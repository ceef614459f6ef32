import type { FastifyServerOptions } from 'fastify';

/** What ajv reports with `verbose` on: the failing keyword with the schema it sits in and the value it judged. */
interface ValidationFailure {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  parentSchema?: FieldSchema;
  data?: unknown;
}

interface FieldSchema {
  title?: string;
  errorMessage?: string;
  enum?: unknown[];
  type?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, FieldSchema>;
}

/**
 * No control characters (C0, DEL, C1, and the line and paragraph separators): no stored name has
 * them, PostgreSQL refuses a NUL, and they would reach terminals and logs. The same rule as
 * `hasControlCharacters` in errors.ts, as a JSON Schema pattern for TypeBox's `pattern`.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$';

const PART_WORDS: Record<string, (name: string) => string> = {
  body: (name) => `The form field "${name}"`,
  querystring: (name) => `The query parameter "${name}"`,
  params: (name) => `The "${name}" part of the address`,
  headers: (name) => `The ${name} header`,
};

/**
 * A schema failure in words a person understands. The field's own `errorMessage` wins; otherwise the
 * message names the field (its `title`, else the form field or parameter) and what it must be.
 */
export function schemaErrorMessage(failures: readonly ValidationFailure[], part: string): string {
  // ajv reports an anyOf after its branches: the last failure is the outermost one.
  const failure = failures.at(-1);
  if (!failure) return 'The request is not valid.';
  const missing = failure.keyword === 'required' ? String(failure.params.missingProperty) : undefined;
  const field = missing ? failure.parentSchema?.properties?.[missing] : failure.parentSchema;
  if (field?.errorMessage) return field.errorMessage;
  const key =
    missing ??
    decodeURIComponent(failure.instancePath.split('/').at(-1) ?? '')
      .replace(/~1/g, '/')
      .replace(/~0/g, '~');
  const name = field?.title ? `The ${field.title}` : (PART_WORDS[part] ?? PART_WORDS.body!)(key);
  switch (failure.keyword) {
    case 'required':
      return `${name} is missing.`;
    case 'enum':
      // An empty value stands for "any" in the pages' filters: not worth naming as a choice.
      return `${name} must be one of ${(field?.enum ?? []).filter((value) => value !== '').join(', ')}.`;
    case 'type':
      if (Array.isArray(failure.data)) return `${name} must be given once.`;
      return failure.params.type === 'integer' ? `${name} must be a whole number.` : `${name} must be text.`;
    case 'maxLength':
      return `${name} must be text of at most ${String(failure.params.limit)} characters.`;
    case 'minLength':
      return failure.params.limit === 1
        ? `${name} must not be empty.`
        : `${name} must be at least ${String(failure.params.limit)} characters long.`;
    case 'pattern':
      return field?.pattern === NO_CONTROL_CHARACTERS
        ? `${name} must be plain text, without control characters.`
        : `${name} is not in the form it must have.`;
    case 'minimum':
    case 'maximum':
      return field?.minimum !== undefined && field.maximum !== undefined
        ? `${name} must be a whole number from ${field.minimum} to ${field.maximum}.`
        : `${name} must be ${failure.keyword === 'minimum' ? 'at least' : 'at most'} ${String(failure.params.limit)}.`;
    default:
      return `${name} is not valid.`;
  }
}

/**
 * The app's schema validation: ajv as fastify sets it up, plus `errorMessage` (a field's own words for
 * its failure) and `verbose` failures (the failing schema, to name the field and its choices), and
 * one formatter that turns every failure — params, query, form or header — into such a message.
 * The error handler answers it as a 400 (a page for people, Graph's body for the APIs).
 */
export const SCHEMA_VALIDATION = {
  ajv: {
    // `strictTypes` off: a raw body (bytes) is declared as `format: binary` without a JSON type.
    customOptions: { verbose: true, strictTypes: false },
    plugins: [(ajv) => ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })],
  },
  schemaErrorFormatter: (failures, part) => new Error(schemaErrorMessage(failures as unknown as ValidationFailure[], part)),
} satisfies Pick<FastifyServerOptions, 'ajv' | 'schemaErrorFormatter'>;
