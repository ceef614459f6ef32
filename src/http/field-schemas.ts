import { Type } from 'typebox';
import { NO_CONTROL_CHARACTERS } from './schema-validation.ts';

/**
 * Field schemas the routes share. A field's `title` is how a failure names it ("The state filter must
 * be one of …"), so each says what a person calls the field.
 */

/** Text a person typed: at most `maxLength` characters and no control characters. */
export function PlainText(options: { title?: string; maxLength: number; minLength?: number; description?: string; errorMessage?: string }) {
  return Type.String({ pattern: NO_CONTROL_CHARACTERS, ...options });
}

/** A filter with a fixed set of values, where the empty value (the select's "Any") means no filter. */
export function FilterChoice<const V extends string>(values: readonly V[], title: string) {
  return Type.Optional(Type.Enum(['', ...values] as ('' | V)[], { title }));
}

/** The CSRF token every form carries (checked before validation, so a form without it is a 403). */
export const CsrfToken = Type.Optional(Type.String({ description: "The form's CSRF token" }));

/** A `?done=` flash key: shown only when the page knows it. */
export const Flash = Type.Optional(Type.String({ maxLength: 40, description: 'Which notice to show after a change' }));
