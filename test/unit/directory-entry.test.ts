import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LdapAttributeMapping } from '../../src/config.ts';
import { mapEntry, type RawEntry } from '../../src/directory-sync/index.ts';

const AD: LdapAttributeMapping = {
  userPrincipalName: 'userPrincipalName',
  displayName: 'displayName',
  mail: 'mail',
  photo: 'thumbnailPhoto',
  stableId: 'objectGUID',
  changedAt: 'whenChanged',
};
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]);
const GUID = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');

function adEntry(extra: Record<string, string | string[] | Buffer> = {}): RawEntry {
  return {
    dn: 'CN=Ada,OU=Staff,DC=example,DC=com',
    objectGUID: GUID,
    userPrincipalName: ['ada@example.com'],
    displayName: ['Ada Lovelace'],
    mail: ['ada@example.com'],
    whenChanged: ['20261130071500.0Z'],
    ...extra,
  };
}

test('an Active Directory entry: objectGUID as hex, whenChanged kept, userAccountControl bit 2 is disabled', () => {
  const mapped = mapEntry(adEntry({ userAccountControl: ['514'], thumbnailPhoto: JPEG }), AD, { kind: 'userAccountControl' });
  assert.ok(mapped.ok);
  assert.equal(mapped.entry.stableId, 'hex:0f1e2d3c4b5a69788796a5b4c3d2e1f0');
  assert.equal(mapped.entry.changedAt, '20261130071500.0Z');
  assert.equal(mapped.entry.disabled, true);
  assert.deepEqual(mapped.entry.photo, JPEG);
  const enabled = mapEntry(adEntry({ userAccountControl: ['512'] }), AD, { kind: 'userAccountControl' });
  assert.ok(enabled.ok && !enabled.entry.disabled && enabled.entry.photo === null);
});

test('attribute names are matched whatever their case, and the attribute rule compares values case-insensitively', () => {
  const raw: RawEntry = {
    dn: 'uid=ada,ou=people,dc=x',
    entryUUID: ['4cb98f40-80d6-1041-95b5-71d543bc14e8'],
    mail: ['ada@x.test'],
    employeeType: ['Staff', 'DISABLED'],
  };
  const mapped = mapEntry(
    raw,
    { ...AD, userPrincipalName: 'MAIL', stableId: 'entryuuid', changedAt: 'modifyTimestamp' },
    { kind: 'attribute', attribute: 'employeetype', value: 'disabled' },
  );
  assert.ok(mapped.ok);
  assert.equal(mapped.entry.userPrincipalName, 'ada@x.test');
  assert.equal(mapped.entry.stableId, '4cb98f40-80d6-1041-95b5-71d543bc14e8');
  assert.equal(mapped.entry.disabled, true);
  assert.equal(mapped.entry.changedAt, null);
});

test('an unusable entry is skipped with a reason a person understands', () => {
  const reasons: [RawEntry, RegExp][] = [
    [adEntry({ objectGUID: Buffer.alloc(0) }), /has no objectGUID/],
    [{ dn: 'CN=svc', objectGUID: GUID }, /has no userPrincipalName/],
    [adEntry({ userPrincipalName: ['ada'] }), /"ada" does not look like name@domain/],
    [adEntry({ displayName: ['x'.repeat(257)] }), /display name is 257 characters long \(at most 256\)/],
    [adEntry({ displayName: ['Ada\u001b[31m'] }), /display name "Ada\?\[31m" has control characters/],
    [adEntry({ mail: ['not mail'] }), /mail address "not mail" does not look like name@domain/],
    [adEntry({ thumbnailPhoto: Buffer.from('GIF? no: plain text') }), /thumbnailPhoto \(19 bytes\) is not an image/],
  ];
  for (const [raw, reason] of reasons) {
    const mapped = mapEntry(raw, AD, { kind: 'none' });
    assert.ok(!mapped.ok, JSON.stringify(raw));
    assert.match(mapped.reason, reason);
  }
});
