import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decidePhoto, type DirectoryPhotoPolicy, type PhotoDecisionInput } from '../../src/directory-photos/index.ts';

const NEW = 'new-etag';
const OLD = 'old-etag';
type MailState = 'no Mail photo' | 'own Mail photo' | 'Mail photo from the directory';
const mailOf: Record<MailState, PhotoDecisionInput['mail']> = {
  'no Mail photo': undefined,
  'own Mail photo': { etag: 'own-etag', source: 'page' },
  'Mail photo from the directory': { etag: OLD, source: 'oidc' },
};
const decide = (
  policy: DirectoryPhotoPolicy,
  mail: MailState,
  incomingEtag: string | null,
  last: PhotoDecisionInput['last'] = { receivedEtag: OLD, importedEtag: mail === 'Mail photo from the directory' ? OLD : null },
) => decidePhoto({ source: 'oidc', policy, incomingEtag, last, mail: mailOf[mail] });

test('a new directory photo goes to Mail per the policy and the photo Mail has', () => {
  const expected: [DirectoryPhotoPolicy, MailState, string, string][] = [
    ['never', 'no Mail photo', 'none', 'not-used'],
    ['never', 'own Mail photo', 'none', 'not-used'],
    ['never', 'Mail photo from the directory', 'none', 'not-used'],
    ['fill-when-empty', 'no Mail photo', 'import', 'imported'],
    ['fill-when-empty', 'own Mail photo', 'none', 'kept-own-photo'],
    ['fill-when-empty', 'Mail photo from the directory', 'import', 'imported'],
    ['authoritative', 'no Mail photo', 'import', 'imported'],
    ['authoritative', 'own Mail photo', 'import', 'imported'],
    ['authoritative', 'Mail photo from the directory', 'import', 'imported'],
  ];
  for (const [policy, mail, action, outcome] of expected) {
    const decision = decide(policy, mail, NEW);
    assert.deepEqual([decision.action, decision.outcome], [action, outcome], `${policy}, ${mail}`);
  }
});

test("a directory without a photo removes Mail's only when the directory gave it or is authoritative", () => {
  const expected: [DirectoryPhotoPolicy, MailState, string, string][] = [
    ['never', 'Mail photo from the directory', 'none', 'not-used'],
    ['never', 'own Mail photo', 'none', 'not-used'],
    ['fill-when-empty', 'no Mail photo', 'none', 'unchanged'],
    ['fill-when-empty', 'own Mail photo', 'none', 'kept-own-photo'],
    ['fill-when-empty', 'Mail photo from the directory', 'remove', 'removed'],
    ['authoritative', 'no Mail photo', 'none', 'unchanged'],
    ['authoritative', 'own Mail photo', 'remove', 'removed'],
    ['authoritative', 'Mail photo from the directory', 'remove', 'removed'],
  ];
  for (const [policy, mail, action, outcome] of expected) {
    const decision = decide(policy, mail, null);
    assert.deepEqual([decision.action, decision.outcome], [action, outcome], `${policy}, ${mail}`);
  }
});

test('an unchanged directory photo is never imported again and makes no noise', () => {
  for (const policy of ['never', 'fill-when-empty', 'authoritative'] as const) {
    const same = decidePhoto({
      source: 'ldap',
      policy,
      incomingEtag: OLD,
      last: { receivedEtag: OLD, importedEtag: OLD },
      mail: { etag: OLD, source: 'ldap' },
    });
    assert.deepEqual([same.action, same.outcome], ['none', 'unchanged'], policy);
  }
  const stillOwn = decidePhoto({
    source: 'ldap',
    policy: 'fill-when-empty',
    incomingEtag: OLD,
    last: { receivedEtag: OLD, importedEtag: null },
    mail: { etag: 'own', source: 'page' },
  });
  assert.deepEqual([stillOwn.action, stillOwn.outcome], ['none', 'unchanged'], 'told once that the own photo is kept; not again');
});

test("a filled-in photo the person removed is not filled in again until the directory's photo changes", () => {
  const removed = decidePhoto({
    source: 'ldap',
    policy: 'fill-when-empty',
    incomingEtag: OLD,
    last: { receivedEtag: OLD, importedEtag: OLD },
    mail: undefined,
  });
  assert.deepEqual([removed.action, removed.outcome], ['none', 'unchanged']);
  const changed = decidePhoto({
    source: 'ldap',
    policy: 'fill-when-empty',
    incomingEtag: NEW,
    last: { receivedEtag: OLD, importedEtag: OLD },
    mail: undefined,
  });
  assert.deepEqual([changed.action, changed.outcome], ['import', 'imported']);
  const neverImported = decidePhoto({
    source: 'ldap',
    policy: 'fill-when-empty',
    incomingEtag: OLD,
    last: { receivedEtag: OLD, importedEtag: null },
    mail: undefined,
  });
  assert.deepEqual(
    [neverImported.action, neverImported.outcome],
    ['import', 'imported'],
    'switched from "never": the unchanged photo now fills in',
  );
});

test('a photo from the other directory source counts as the person\'s own under "fill when empty"', () => {
  const decision = decidePhoto({
    source: 'oidc',
    policy: 'fill-when-empty',
    incomingEtag: NEW,
    last: undefined,
    mail: { etag: OLD, source: 'ldap' },
  });
  assert.deepEqual([decision.action, decision.outcome], ['none', 'kept-own-photo']);
});
