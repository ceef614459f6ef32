import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Person } from '../../src/directory/index.ts';
import type { PhotoSource, SourcePhotoMetadata } from '../../src/sync/photo-source.ts';
import { SyncEngine, type SyncRunHistory, type SyncTarget } from '../../src/sync/sync-engine.ts';
import type { SyncRun } from '../../src/sync/sync-state.ts';

const personNamed = (id: string): Person => ({
  id,
  userPrincipalName: `${id}@contoso.example`,
  mail: null,
  displayName: id,
  enabled: true,
  role: 'user',
  mustChangePassword: false,
});

/** Mail as the sync reads it: every read waits until the test answers it, so a run stays running. */
class HeldMail implements PhotoSource {
  readonly reads: { personId: string; answer: (metadata: SourcePhotoMetadata | null) => void }[] = [];

  getMetadata(person: Person): Promise<SourcePhotoMetadata | null> {
    return new Promise((answer) => this.reads.push({ personId: person.id, answer }));
  }

  getPhoto(): Promise<null> {
    throw new Error('not expected: Mail has no photo in these tests, so there is nothing to copy');
  }

  /** Answers the nth read (from 1): the person has no photo in Mail. */
  answer(nth: number): void {
    const read = this.reads[nth - 1];
    if (!read) throw new Error(`there is no read ${nth}; reads so far: ${this.reads.length}`);
    read.answer(null);
  }
}

/** Sites with no photo for anyone: a run that reads "no photo" from Mail finds nothing to change. */
const emptySites = (): SyncTarget => {
  const unexpected = () => Promise.reject(new Error('not expected: nothing changes in Sites in these tests'));
  return {
    getProfile: async () => undefined,
    recordCheck: async () => {},
    recordFailure: unexpected,
    applyMailPhoto: unexpected,
    applyPlaceholder: unexpected,
  };
};

const runHistory = () => {
  const runs: SyncRun[] = [];
  const history: SyncRunHistory = {
    insert: async (run) => void runs.push(run),
    listForPerson: async (personId, limit) => runs.filter((run) => run.personId === personId).slice(0, limit),
  };
  return { history, runs };
};

const setUp = () => {
  const mail = new HeldMail();
  const { history, runs } = runHistory();
  let ids = 0;
  const engine = new SyncEngine(mail, emptySites(), history, { now: () => new Date('2024-05-01T10:00:00Z'), newId: () => `run-${++ids}` });
  return { engine, mail, runs };
};

/** Lets the engine's promise callbacks run until the condition holds; turns of the event loop, not time. */
const until = async (condition: () => boolean, what: string) => {
  for (let turn = 0; turn < 100; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
};

/** A few turns of the event loop, for asserting that something did not happen. */
const settle = async () => {
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
};

test('two syncs of one person at once run once and share the result', async () => {
  const { engine, mail, runs } = setUp();
  const ada = personNamed('ada');
  const viewed = engine.syncProfilePhoto(ada, 'own-photo-view');
  const asked = engine.syncProfilePhoto(ada, 'admin');
  await settle();
  assert.equal(mail.reads.length, 1, 'Mail is read once');
  mail.answer(1);
  const [first, second] = await Promise.all([viewed, asked]);
  assert.equal(first, second);
  assert.equal(first.outcome, 'unchanged');
  assert.deepEqual(
    runs.map((run) => run.trigger),
    ['own-photo-view'],
  );
});

test('once a sync has finished, the next sync of that person runs anew', async () => {
  const { engine, mail, runs } = setUp();
  const ada = personNamed('ada');
  const first = engine.syncProfilePhoto(ada, 'own-photo-view');
  await until(() => mail.reads.length === 1, 'the first read');
  mail.answer(1);
  await first;
  const second = engine.syncProfilePhoto(ada, 'admin');
  await until(() => mail.reads.length === 2, 'a second read of Mail');
  mail.answer(2);
  await second;
  assert.deepEqual(
    runs.map((run) => run.trigger),
    ['own-photo-view', 'admin'],
  );
});

test('changes arriving while a sync runs get exactly one follow-up, which starts after that sync', async () => {
  const { engine, mail, runs } = setUp();
  const ada = personNamed('ada');
  const running = engine.syncProfilePhoto(ada, 'own-photo-view');
  await until(() => mail.reads.length === 1, 'the first read');
  // The running sync may have read Mail before these changes: each asks for a check after it.
  const changes = [1, 2, 3].map(() => engine.syncProfilePhoto(ada, 'on-change', { afterChange: true }));
  await settle();
  assert.equal(mail.reads.length, 1, 'the follow-up waits for the running sync');
  mail.answer(1);
  const first = await running;
  await until(() => mail.reads.length === 2, 'the follow-up reading Mail');
  mail.answer(2);
  const [followUp, ...sameFollowUp] = await Promise.all(changes);
  assert.notEqual(followUp, first);
  for (const result of sameFollowUp) assert.equal(result, followUp, 'every change shares the one follow-up');
  await settle();
  assert.equal(mail.reads.length, 2, 'no further run');
  assert.deepEqual(
    runs.map((run) => run.trigger),
    ['own-photo-view', 'on-change'],
  );
});

test('a change arriving during the follow-up is not lost: it gets a follow-up of its own', async () => {
  const { engine, mail, runs } = setUp();
  const ada = personNamed('ada');
  const running = engine.syncProfilePhoto(ada, 'own-photo-view');
  const change = engine.syncProfilePhoto(ada, 'on-change', { afterChange: true });
  await until(() => mail.reads.length === 1, 'the first read');
  mail.answer(1);
  await running;
  await until(() => mail.reads.length === 2, 'the follow-up reading Mail');
  const laterChange = engine.syncProfilePhoto(ada, 'on-change', { afterChange: true });
  mail.answer(2);
  await change;
  await until(() => mail.reads.length === 3, "the later change's follow-up reading Mail");
  mail.answer(3);
  await laterChange;
  assert.deepEqual(
    runs.map((run) => run.trigger),
    ['own-photo-view', 'on-change', 'on-change'],
  );
});

test('a change while no sync runs is synced at once, without waiting for a follow-up', async () => {
  const { engine, mail, runs } = setUp();
  const change = engine.syncProfilePhoto(personNamed('ada'), 'on-change', { afterChange: true });
  await until(() => mail.reads.length === 1, 'the read');
  mail.answer(1);
  await change;
  await settle();
  assert.equal(mail.reads.length, 1, 'one run');
  assert.deepEqual(
    runs.map((run) => run.trigger),
    ['on-change'],
  );
});

test('syncs of different people run at the same time', async () => {
  const { engine, mail, runs } = setUp();
  const ada = engine.syncProfilePhoto(personNamed('ada'), 'own-photo-view');
  const grace = engine.syncProfilePhoto(personNamed('grace'), 'own-photo-view');
  await until(() => mail.reads.length === 2, 'both people read from Mail before either finished');
  assert.deepEqual(
    mail.reads.map((read) => read.personId),
    ['ada', 'grace'],
  );
  mail.answer(2);
  assert.equal((await grace).personId, 'grace', 'grace finishes while ada still waits');
  mail.answer(1);
  assert.equal((await ada).personId, 'ada');
  assert.deepEqual(
    runs.map((run) => run.personId),
    ['grace', 'ada'],
  );
});
