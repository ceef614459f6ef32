import { BadRequest, hasControlCharacters } from '../errors.ts';

/** An optional text parameter: absent or empty is undefined; a repeated or over-long one is a 400. */
export function queryText(value: unknown, name: string, max = 200): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > max) throw new BadRequest(`The ${name} must be text of at most ${max} characters.`);
  // No stored name has control characters, and PostgreSQL refuses a NUL in a query.
  if (hasControlCharacters(value)) throw new BadRequest(`The ${name} must be plain text, without control characters.`);
  return value.trim() || undefined;
}

/** An optional filter that takes one of a fixed set of values; anything else is a 400 naming them. */
export function queryChoice<T extends string>(value: unknown, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw new BadRequest(`The ${name} filter must be one of ${allowed.join(', ')}.`);
  return value as T;
}
