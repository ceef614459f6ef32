/** What a terminal may act on: C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** The same, minus tab: the separator of the CLI's own columns. */
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_TAB = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;
/** Inside a JSON string, the controls JSON.stringify leaves raw (it escapes only U+0000–U+001F). */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escape(character: string): string {
  const code = character.charCodeAt(0);
  return (
    NAMED[character] ??
    (code <= 0xff ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}` : `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`)
  );
}

/**
 * A value as the operator's terminal may show it: each control character as visible text (`\x1B`,
 * `\t`, `\u2028`), so stored data can never move the cursor, set the title or forge a line. Rows kept
 * from before control characters were refused (and names from other systems) still print safely.
 */
export function printable(value: string): string {
  return value.replace(CONTROL, escape);
}

/** One line of output: escaped like `printable`, except the tabs that separate its columns. */
export function printableLine(line: string): string {
  return line.replace(CONTROL_BUT_TAB, escape);
}

/** Values as tab-separated columns; a tab inside a value is escaped, so it cannot add a column. */
export function columns(...values: string[]): string {
  return values.map(printable).join('\t');
}

/** Indented JSON with every control character escaped (still valid JSON, with the same values). */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
