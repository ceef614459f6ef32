import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectImageFormat } from '../../src/imaging/index.ts';

test('the format is told by the bytes, not by any label', () => {
  const cases: [number[] | string, string | undefined][] = [
    [[0xff, 0xd8, 0xff, 0xe0], 'jpeg'],
    [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0], 'png'],
    ['GIF89a....', 'gif'],
    ['RIFF\0\0\0\0WEBPVP8 ', 'webp'],
    [[0x49, 0x49, 0x2a, 0x00, 0, 0], 'tiff'],
    ['BM' + '\0'.repeat(30), 'bmp'],
    ['\0\0\0\x1cftypavif', 'avif'],
    ['  <?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', 'svg'],
    ['%PDF-1.7', 'pdf'],
    ['<html><body>hi</body></html>', undefined],
    ['', undefined],
    [[0xff, 0xd8], undefined],
  ];
  for (const [input, expected] of cases) {
    const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : Buffer.from(input);
    assert.equal(detectImageFormat(bytes), expected, JSON.stringify(input));
  }
});
