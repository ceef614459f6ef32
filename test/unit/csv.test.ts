import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCsv, CsvSyntaxError } from '../../src/directory/index.ts';

test('CSV fields may be quoted and hold commas, quotes and line breaks', () => {
  const records = parseCsv('a,b\r\n"x, y","say ""hi""\nthere"\n\nlast,row');
  assert.deepEqual(records, [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['x, y', 'say "hi"\nthere'] },
    { line: 5, fields: ['last', 'row'] },
  ]);
});

test('a UTF-8 byte order mark is ignored', () => {
  assert.deepEqual(parseCsv('\uFEFFuserPrincipalName\nada@x.example')[0]!.fields, ['userPrincipalName']);
});

test('an unterminated quote names its line', () => {
  assert.throws(
    () => parseCsv('a,b\n"open,c\nd'),
    (error: Error) => error instanceof CsvSyntaxError && /line 2/.test(error.message),
  );
});
