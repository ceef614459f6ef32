import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ifNoneMatchHits } from '../../src/http/index.ts';
import { html } from '../../src/web/html.ts';
import { safeNext } from '../../src/web/portal-routes.ts';

test('If-None-Match matches a listed, weak or wildcard tag and nothing else', () => {
  assert.equal(ifNoneMatchHits('"a"', '"a"'), true);
  assert.equal(ifNoneMatchHits('"x", W/"a"', '"a"'), true);
  assert.equal(ifNoneMatchHits('*', '"a"'), true);
  assert.equal(ifNoneMatchHits('"b"', '"a"'), false);
  assert.equal(ifNoneMatchHits('a', '"a"'), false);
  assert.equal(ifNoneMatchHits(undefined, '"a"'), false);
});

test('HTML templates escape every interpolated value', () => {
  assert.equal(html`<p title="${'"><script>'}">${'<b>&'}</p>`.value, '<p title="&quot;&gt;&lt;script&gt;">&lt;b&gt;&amp;</p>');
  assert.equal(html`<p>${html`<b>${'x'}</b>`}</p>`.value, '<p><b>x</b></p>');
});

test('after sign-in only a path on this site is followed', () => {
  assert.equal(safeNext('/mail/photo'), '/mail/photo');
  for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', undefined, '']) assert.equal(safeNext(bad), '/');
});
