import type { Finding, MailAndSites } from './consistency-checks.ts';
import { Prng } from './mutation-fuzzer.ts';
import type { SoakPhoto } from './soak-photos.ts';

/** A person's Mail state as the clients see it: the ETag of the current photo, or null for none. */
export type PhotoState = string | null;

export interface SoakPerson {
  id: string;
  upn: string;
  /** A bearer token (Graph writes), made like `photosync tokens create`. */
  token: string;
  /** A signed-in session (the person's own Sites L view, the user-initiated sync trigger). */
  session: string;
}

/** What the clients know about one person. */
export interface PersonLedger {
  person: SoakPerson;
  /** The state of the last acknowledged write (2xx received), or what a restart showed. */
  confirmed: PhotoState;
  /** How `confirmed` came about: the seed state, an acknowledged write, or the check after a restart. */
  confirmedBy: 'start' | 'ack' | 'restart';
  /** A write whose answer never arrived (the server died under it): it may or may not have happened. */
  pending?: { state: PhotoState; op: string; at: number; error: string };
  /** Whether the state after the last restart came from such an unknown write. */
  lastResolution?: 'acknowledged' | 'unknown write applied' | 'unknown write not applied' | 'indistinguishable';
}

export interface SoakCounts {
  putsAcked: number;
  deletesAcked: number;
  /** DELETE answered 404 (there was no photo): acknowledged as "no photo". */
  deletesNoPhoto: number;
  unknownWrites: number;
  unknownApplied: number;
  unknownNotApplied: number;
  /** The unknown write would have left the same state as before it: no telling. */
  unknownIndistinguishable: number;
  /** Connection refused: the request never left the client (the server was down). */
  refused: number;
  /** 503 (busy): refused by the server, nothing changed. */
  busy: number;
  ownLargeViews: number;
  graphReads: number;
}

export function emptyCounts(): SoakCounts {
  return {
    putsAcked: 0,
    deletesAcked: 0,
    deletesNoPhoto: 0,
    unknownWrites: 0,
    unknownApplied: 0,
    unknownNotApplied: 0,
    unknownIndistinguishable: 0,
    refused: 0,
    busy: 0,
    ownLargeViews: 0,
    graphReads: 0,
  };
}

/** Open: clients send requests. Closed: they wait (the server is being killed, restarted and checked). */
export class Gate {
  private opened = true;
  private waiters: (() => void)[] = [];

  get isOpen(): boolean {
    return this.opened;
  }

  open(): void {
    this.opened = true;
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  close(): void {
    this.opened = false;
  }

  wait(): Promise<void> {
    return this.opened ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How a request ended without an answer: never sent (refused) or unknown (the server may have acted on it). */
function networkOutcome(error: unknown): { refused: boolean; message: string } {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { name?: string }).name ?? 'unknown';
  return { refused: code === 'ECONNREFUSED', message: `${code}: ${cause?.message ?? (error as Error).message}` };
}

export interface SoakDriverOptions {
  /** The server's address now (it may move to another port between restarts). */
  baseUrl: () => string;
  ledgers: PersonLedger[];
  photos: SoakPhoto[];
  clients: number;
  seed: number;
  /** Where findings from the clients' own checks go. */
  report: (finding: Finding) => void;
  /** How long one request may take before it counts as hung. */
  requestTimeoutMs?: number;
}

/**
 * 3–4 client loops, each on its own people, writing through the Graph API (PUT a photo, DELETE it),
 * viewing their own Sites L photo with their session (the user-initiated sync), and reading their
 * Mail photo back. Every write's outcome goes into the ledger: acknowledged, refused, or unknown.
 */
export class SoakDriver {
  readonly gate = new Gate();
  readonly counts = emptyCounts();
  /** People the clients leave alone for now (their convergence is being watched). */
  readonly held = new Set<string>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly options: SoakDriverOptions) {}

  start(): void {
    const { ledgers, clients } = this.options;
    for (let c = 0; c < clients; c++) {
      const own = ledgers.filter((_, i) => i % clients === c);
      this.loops.push(this.loop(own, new Prng(this.options.seed * 31 + c + 1)));
    }
  }

  /** Resolves when no request is in flight (after a kill: every request has failed or been answered). */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.gate.open();
    await Promise.all(this.loops);
  }

  private async loop(own: PersonLedger[], rng: Prng): Promise<void> {
    while (!this.stopped) {
      await this.gate.wait();
      if (this.stopped) return;
      const free = own.filter((l) => !l.pending && !this.held.has(l.person.id));
      if (free.length === 0) {
        await sleep(25);
        continue;
      }
      const ledger = rng.pick(free);
      const roll = rng.float();
      this.inFlight++;
      try {
        if (roll < 0.55) await this.put(ledger, rng.pick(this.options.photos));
        else if (roll < 0.75) await this.remove(ledger);
        else if (roll < 0.9) await this.viewOwnLarge(ledger);
        else await this.readBack(ledger);
      } finally {
        this.inFlight--;
        if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }

  private request(path: string, init: RequestInit): Promise<Response> {
    return fetch(`${this.options.baseUrl()}${path}`, { ...init, signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 20_000) });
  }

  /** A write that got no answer: refused (nothing happened) or unknown (recorded as pending). */
  private async noAnswer(ledger: PersonLedger, op: string, state: PhotoState, error: unknown): Promise<void> {
    const outcome = networkOutcome(error);
    if (outcome.refused) {
      this.counts.refused++;
    } else {
      this.counts.unknownWrites++;
      ledger.pending = { state, op, at: Date.now(), error: outcome.message };
      if (this.gate.isOpen && /Timeout|AbortError/i.test(outcome.message)) {
        this.options.report({
          category: 'Request hung',
          detail: `${op} for ${ledger.person.upn} got no answer within ${this.options.requestTimeoutMs ?? 20_000} ms while the server was up (${outcome.message})`,
        });
      }
    }
    // Give the killer time to close the gate rather than spinning on a dead server.
    await sleep(30);
  }

  private unexpected(ledger: PersonLedger, op: string, response: Response, body: string): void {
    this.options.report({
      category: 'Unexpected answer to a client',
      detail: `${op} for ${ledger.person.upn}: ${response.status} ${body.slice(0, 300)}`,
    });
  }

  private async put(ledger: PersonLedger, photo: SoakPhoto): Promise<void> {
    const op = `PUT /v1.0/me/photo/$value (upload #${photo.index}, ETag ${photo.etag})`;
    let response: Response;
    try {
      response = await this.request('/v1.0/me/photo/$value', {
        method: 'PUT',
        headers: { authorization: `Bearer ${ledger.person.token}`, 'content-type': 'image/jpeg' },
        body: new Uint8Array(photo.bytes),
      });
    } catch (error) {
      return this.noAnswer(ledger, op, photo.etag, error);
    }
    let body = '';
    try {
      body = await response.text();
    } catch (error) {
      // The status line arrived; the server had already committed (it answers after the commit).
      if (response.status !== 200) return this.noAnswer(ledger, op, photo.etag, error);
    }
    if (response.status === 200) {
      this.counts.putsAcked++;
      ledger.confirmed = photo.etag;
      ledger.confirmedBy = 'ack';
    } else {
      this.notAcknowledged(ledger, op, response, body, photo.etag);
    }
  }

  /** A 503 changed nothing; any other answer is unexpected, and a 5xx may or may not have committed. */
  private notAcknowledged(ledger: PersonLedger, op: string, response: Response, body: string, attempted: string | null): void {
    if (response.status === 503) {
      this.counts.busy++;
      return;
    }
    this.unexpected(ledger, op, response, body);
    if (response.status >= 500) {
      this.counts.unknownWrites++;
      ledger.pending = { state: attempted, op, at: Date.now(), error: `${response.status}` };
    }
  }

  private async remove(ledger: PersonLedger): Promise<void> {
    const op = 'DELETE /v1.0/me/photo';
    let response: Response;
    try {
      response = await this.request('/v1.0/me/photo', { method: 'DELETE', headers: { authorization: `Bearer ${ledger.person.token}` } });
    } catch (error) {
      return this.noAnswer(ledger, op, null, error);
    }
    const body = await response.text().catch(() => '');
    if (response.status === 204) {
      this.counts.deletesAcked++;
      if (ledger.confirmed === null) {
        this.options.report({
          category: 'Mail: state differs from the last acknowledged write',
          detail: `${ledger.person.upn}: DELETE removed a photo although the last acknowledged state was "no photo"`,
        });
      }
      ledger.confirmed = null;
      ledger.confirmedBy = 'ack';
    } else if (response.status === 404) {
      this.counts.deletesNoPhoto++;
      if (ledger.confirmed !== null) {
        this.options.report({
          category: 'Mail: state differs from the last acknowledged write',
          detail: `${ledger.person.upn}: DELETE answered 404 (no photo) although the last acknowledged state was ETag ${ledger.confirmed} (${ledger.confirmedBy})`,
        });
      }
      ledger.confirmed = null;
      ledger.confirmedBy = 'ack';
    } else {
      this.notAcknowledged(ledger, op, response, body, null);
    }
  }

  /** The person's own L photo with their session: Sites checks Mail and syncs before answering. */
  private async viewOwnLarge(ledger: PersonLedger): Promise<void> {
    try {
      const response = await this.request(`/_layouts/15/userphoto.aspx?size=L&accountname=${encodeURIComponent(ledger.person.upn)}`, {
        headers: { cookie: `photosync_session=${ledger.person.session}` },
      });
      const body = Buffer.from(await response.arrayBuffer());
      this.counts.ownLargeViews++;
      if (response.status !== 200 && response.status !== 503)
        this.unexpected(ledger, 'GET userphoto.aspx?size=L (own, session)', response, body.toString('utf8'));
    } catch {
      await sleep(30);
    }
  }

  /** Read-your-writes: Mail's metadata must show the last acknowledged state. */
  private async readBack(ledger: PersonLedger): Promise<void> {
    const expected = ledger.confirmed;
    try {
      const response = await this.request('/v1.0/me/photo', { headers: { authorization: `Bearer ${ledger.person.token}` } });
      const text = await response.text();
      this.counts.graphReads++;
      if (response.status === 503) return;
      const actual =
        response.status === 404
          ? null
          : response.status === 200
            ? String((JSON.parse(text) as Record<string, unknown>)['@odata.mediaEtag']).replace(/^(W\/)?"|"$/g, '')
            : `status ${response.status}`;
      if (actual !== expected) {
        this.options.report({
          category: 'Mail: read after an acknowledged write',
          detail: `${ledger.person.upn}: GET /v1.0/me/photo shows ${actual ?? 'no photo'}, the last acknowledged state is ${expected ?? 'no photo'} (${ledger.confirmedBy})`,
        });
      }
    } catch {
      await sleep(30);
    }
  }
}

/**
 * Check 1 after a restart: each person's current Mail photo is their last acknowledged write, or the
 * one write whose answer never came — nothing else. The ledger then takes what the database holds.
 */
export function resolveAfterRestart(
  ledgers: PersonLedger[],
  state: MailAndSites,
  counts: SoakCounts,
  kill: number,
): { findings: Finding[]; passed: number } {
  const findings: Finding[] = [];
  let passed = 0;
  for (const ledger of ledgers) {
    const observed = state.get(ledger.person.id)?.mail ?? null;
    const pending = ledger.pending;
    const allowed = [ledger.confirmed, ...(pending ? [pending.state] : [])];
    if (allowed.includes(observed)) {
      passed++;
    } else {
      const what =
        ledger.confirmedBy === 'ack'
          ? 'the last acknowledged write'
          : ledger.confirmedBy === 'restart'
            ? 'the state the previous restart showed'
            : 'the seeded state';
      findings.push({
        category: ledger.confirmedBy === 'ack' ? 'Mail: acknowledged write lost' : 'Mail: state changed with no write',
        detail: `after kill ${kill}: ${ledger.person.upn} has ${observed ? `ETag ${observed}` : 'no photo'} in Mail; ${what} left ${ledger.confirmed ? `ETag ${ledger.confirmed}` : 'no photo'}${pending ? `, and the unanswered ${pending.op} would leave ${pending.state ?? 'no photo'}` : ''}`,
      });
    }
    if (pending) {
      if (pending.state === ledger.confirmed) {
        counts.unknownIndistinguishable++;
        ledger.lastResolution = 'indistinguishable';
      } else if (observed === pending.state) {
        counts.unknownApplied++;
        ledger.lastResolution = 'unknown write applied';
      } else {
        counts.unknownNotApplied++;
        ledger.lastResolution = 'unknown write not applied';
      }
    } else {
      ledger.lastResolution = 'acknowledged';
    }
    delete ledger.pending;
    ledger.confirmed = observed;
    ledger.confirmedBy = 'restart';
  }
  return { findings, passed };
}
