import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SYNC_MODES, type SyncMode } from './sync/index.ts';

/** The ID token claims that may name a person's user principal name. */
export const OIDC_UPN_CLAIMS = ['preferred_username', 'upn', 'email'] as const;
export type OidcUpnClaim = (typeof OIDC_UPN_CLAIMS)[number];

/** Sign-in through the organization's OpenID Provider (Entra ID, Keycloak, Authentik, Okta …). */
export interface OidcConfig {
  /** The Issuer Identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: URL;
  clientId: string;
  /** Unset: a public client (PKCE only, no client authentication). */
  clientSecret: string | undefined;
  /** Always includes `openid`. */
  scopes: string[];
  upnClaim: OidcUpnClaim;
  /** Lower-case; empty: any domain. */
  allowedDomains: string[];
  /** Someone the provider signs in who is not in photosync yet is added (else refused). */
  createPeople: boolean;
  buttonLabel: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  /** `postgres://…` for PostgreSQL; otherwise the embedded SQLite file below. */
  databaseUrl: string | undefined;
  sqliteFile: string;
  dataDir: string;
  publicUrl: URL;
  logLevel: LogLevel;
  adminUpn: string;
  adminPassword: string | undefined;
  /** Idle timeout: a session ends this long after its last request. */
  sessionTtlHours: number;
  /** Absolute lifetime: a session ends this long after the sign-in, however active. */
  sessionLifetimeHours: number;
  /** Sign-in attempts per client address, and password changes per session, in a minute. */
  signInAttemptsPerMinute: number;
  /** Prometheus sends it as a bearer token to scrape /metrics; unset, only admins may read /metrics. */
  metricsToken: string | undefined;
  trustProxy: boolean;
  /** SharePoint's AllowAllPhotoThumbnailsTriggerExchangeSync: any size of one's own photo triggers a sync. */
  syncOnAnyThumbnailSize: boolean;
  /** Within one session, a person's own photo view re-checks Mail at most this often (0: every time). */
  syncSessionRecheckMinutes: number;
  /** The mode until an admin changes it (the admin's choice is stored in the database and wins). */
  syncMode: SyncMode;
  /** Scheduled mode: how often the out-of-date people are synced, until an admin changes it. */
  syncIntervalMinutes: number;
  /** Syncs and imports running at once in this process (image work: about one per core). */
  syncConcurrency: number;
  /** How often each server looks for due sweeps, lost changes and abandoned runs. */
  syncTickSeconds: number;
  /** Finished bulk runs (their reports) are kept this many days. */
  runRetentionDays: number;
  /** Photos decoded and resized at once in this process. */
  imageConcurrency: number;
  /** Uploads that may wait for image work; one more gets 503 with Retry-After. */
  uploadQueueLength: number;
  /** Unset: no OIDC sign-in. */
  oidc: OidcConfig | undefined;
  /** Off: the password form is gone and password sign-in is refused (the CLI still works). */
  localPasswords: boolean;
  /** LDAP directory sync; undefined when LDAP_URL is not set. */
  /** LDAP directory sync; undefined when LDAP_URL is not set. */
  ldap: LdapSyncConfig | undefined;
}

/** How an entry says it is disabled: Active Directory's account flag, an attribute's value, or not at all. */
export type LdapDisabledRule = { kind: 'none' } | { kind: 'userAccountControl' } | { kind: 'attribute'; attribute: string; value: string };

/** Which of an entry's attributes photosync reads (names as the directory spells them). */
export interface LdapAttributeMapping {
  userPrincipalName: string;
  displayName: string;
  mail: string;
  /** thumbnailPhoto (Active Directory), jpegPhoto (inetOrgPerson) or another binary attribute. */
  photo: string;
  /** Never changes for an entry, even when it is renamed or moved: entryUUID or objectGUID. */
  stableId: string;
  /** When the entry last changed: modifyTimestamp or whenChanged. */
  changedAt: string;
}

export interface LdapSyncConfig {
  /** ldap:// or ldaps://, host and port only. */
  url: string;
  /** Upgrade an ldap:// connection with StartTLS before binding. */
  startTls: boolean;
  /** PEM file of the CA that signed the server's certificate (default: the system's CAs). */
  caFile: string | undefined;
  /** Unset: an anonymous bind. */
  bindDn: string | undefined;
  bindPassword: string | undefined;
  /** Read at each sync, so a rotated secret needs no restart. */
  bindPasswordFile: string | undefined;
  baseDn: string;
  filter: string;
  attributes: LdapAttributeMapping;
  disabledRule: LdapDisabledRule;
  /** Entries per page of the paged search (Active Directory's MaxPageSize is 1000 by default). */
  pageSize: number;
  /** The scheduled sync's interval; 0: only `photosync directory sync` and the admin's "Sync now". */
  intervalMinutes: number;
  /** Connecting and each request give up after this long. */
  timeoutSeconds: number;
}

/** A bad environment variable: the message names it and says what is allowed. */
export class ConfigError extends Error {}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads and validates the whole configuration once; the only reader of the environment is the caller. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const dataDir = path.resolve(env.DATA_DIR?.trim() || './data');
  const databaseUrl = optional(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      `DATABASE_URL must be a postgres:// or postgresql:// URL (got "${databaseUrl}"); leave it unset for the embedded SQLite file in DATA_DIR`,
    );
  }
  const adminPassword = optional(env, 'PHOTOSYNC_ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminPassword.length < 12) {
    throw new ConfigError('PHOTOSYNC_ADMIN_PASSWORD must be at least 12 characters long; leave it unset to get a random one-time password');
  }
  const adminUpn = optional(env, 'PHOTOSYNC_ADMIN_UPN') ?? 'admin@photosync.local';
  if (!/^[^@\s]+@[^@\s]+$/.test(adminUpn)) {
    throw new ConfigError(`PHOTOSYNC_ADMIN_UPN must look like name@domain (got "${adminUpn}")`);
  }
  const metricsToken = optional(env, 'METRICS_TOKEN');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{24,512}$/.test(metricsToken)) {
    throw new ConfigError(
      'METRICS_TOKEN must be 24 to 512 printable characters without spaces (e.g. from `openssl rand -hex 32`); leave it unset to let only admins read /metrics',
    );
  }
  const oidc = oidcConfig(env);
  const localPasswords = boolean(env, 'LOCAL_PASSWORDS', true);
  if (!localPasswords && !oidc) {
    throw new ConfigError('LOCAL_PASSWORDS=false needs OIDC sign-in (OIDC_ISSUER and OIDC_CLIENT_ID); otherwise nobody could sign in');
  }
  return {
    port,
    host: optional(env, 'HOST') ?? '127.0.0.1',
    databaseUrl,
    sqliteFile: path.join(dataDir, 'photosync.db'),
    dataDir,
    publicUrl: publicUrl(env, port),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    adminUpn,
    adminPassword,
    sessionTtlHours: integer(env, 'SESSION_TTL_HOURS', 12, 1, 24 * 90),
    sessionLifetimeHours: integer(env, 'SESSION_LIFETIME_HOURS', 7 * 24, 1, 24 * 90),
    signInAttemptsPerMinute: integer(env, 'SIGNIN_ATTEMPTS_PER_MINUTE', 10, 1, 10_000),
    metricsToken,
    trustProxy: boolean(env, 'TRUST_PROXY', false),
    syncOnAnyThumbnailSize: boolean(env, 'SYNC_ON_ANY_THUMBNAIL_SIZE', false),
    syncSessionRecheckMinutes: integer(env, 'SYNC_SESSION_RECHECK_MINUTES', 60, 0, 7 * 24 * 60),
    syncMode: oneOf(env, 'SYNC_MODE', SYNC_MODES, 'user-initiated'),
    syncIntervalMinutes: integer(env, 'SYNC_INTERVAL_MINUTES', 60, 1, 7 * 24 * 60),
    syncConcurrency: integer(env, 'SYNC_CONCURRENCY', os.availableParallelism(), 1, 64),
    syncTickSeconds: integer(env, 'SYNC_TICK_SECONDS', 60, 1, 3600),
    runRetentionDays: integer(env, 'RUN_RETENTION_DAYS', 30, 1, 3650),
    imageConcurrency: integer(env, 'IMAGE_CONCURRENCY', os.availableParallelism(), 1, 64),
    uploadQueueLength: integer(env, 'UPLOAD_QUEUE_LENGTH', 4 * os.availableParallelism(), 0, 1000),
    ldap: ldapSyncConfig(env),
    oidc,
    localPasswords,
  };
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function oidcConfig(env: Record<string, string | undefined>): OidcConfig | undefined {
  const rawIssuer = optional(env, 'OIDC_ISSUER');
  const clientId = optional(env, 'OIDC_CLIENT_ID');
  if (rawIssuer === undefined) {
    const stray = ['OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'OIDC_CLIENT_SECRET_FILE'].find((name) => optional(env, name) !== undefined);
    if (stray)
      throw new ConfigError(`${stray} is set but OIDC_ISSUER is not; set OIDC_ISSUER to the provider's issuer URL to turn on OIDC sign-in`);
    return undefined;
  }
  let issuer: URL;
  try {
    issuer = new URL(rawIssuer);
  } catch {
    throw new ConfigError(
      `OIDC_ISSUER must be the provider's issuer URL, such as https://login.example.com/realms/staff (got "${rawIssuer}")`,
    );
  }
  // Tokens and secrets cross this connection: plain http only to this machine (a provider in a test).
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && LOOPBACK_HOSTS.has(issuer.hostname))) {
    throw new ConfigError(`OIDC_ISSUER must be an https:// URL (http:// only for localhost) (got "${rawIssuer}")`);
  }
  if (clientId === undefined)
    throw new ConfigError('OIDC_CLIENT_ID must be set when OIDC_ISSUER is: the client (application) id registered at the provider');
  const secret = optional(env, 'OIDC_CLIENT_SECRET');
  const secretFile = optional(env, 'OIDC_CLIENT_SECRET_FILE');
  if (secret !== undefined && secretFile !== undefined)
    throw new ConfigError('Set OIDC_CLIENT_SECRET or OIDC_CLIENT_SECRET_FILE, not both');
  let clientSecret = secret;
  if (secretFile !== undefined) {
    try {
      clientSecret = fs.readFileSync(secretFile, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`OIDC_CLIENT_SECRET_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}: ${secretFile})`);
    }
    if (!clientSecret) throw new ConfigError(`OIDC_CLIENT_SECRET_FILE is empty (${secretFile})`);
  }
  const scopes = (optional(env, 'OIDC_SCOPES') ?? 'openid profile email').split(/[\s,]+/).filter(Boolean);
  if (!scopes.includes('openid')) throw new ConfigError(`OIDC_SCOPES must include openid (got "${scopes.join(' ')}")`);
  const domains = (optional(env, 'OIDC_ALLOWED_DOMAINS') ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((d) => d.toLowerCase().replace(/^@/, ''));
  const badDomain = domains.find((d) => !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(d));
  if (badDomain !== undefined)
    throw new ConfigError(
      `OIDC_ALLOWED_DOMAINS must be domains separated by commas, such as contoso.com,fabrikam.com (got "${badDomain}")`,
    );
  const buttonLabel = optional(env, 'OIDC_BUTTON_LABEL') ?? 'Sign in with your organization account';
  if (buttonLabel.length > 80) throw new ConfigError('OIDC_BUTTON_LABEL must be at most 80 characters');
  return {
    issuer,
    clientId,
    clientSecret,
    scopes,
    upnClaim: oneOf(env, 'OIDC_UPN_CLAIM', OIDC_UPN_CLAIMS, 'preferred_username'),
    allowedDomains: domains,
    createPeople: boolean(env, 'OIDC_CREATE_PEOPLE', false),
    buttonLabel,
  };
}

const LDAP_ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

/** The LDAP_* variables; LDAP_URL switches the directory sync on. */
function ldapSyncConfig(env: Record<string, string | undefined>): LdapSyncConfig | undefined {
  const url = optional(env, 'LDAP_URL');
  if (url === undefined) {
    const stray = Object.keys(env).filter((name) => name.startsWith('LDAP_') && optional(env, name) !== undefined);
    if (stray.length > 0)
      throw new ConfigError(
        `${stray.sort().join(', ')} ${stray.length === 1 ? 'is' : 'are'} set but LDAP_URL is not; set LDAP_URL (ldap://host:389 or ldaps://host:636) to sync from the directory`,
      );
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`LDAP_URL must be an ldap:// or ldaps:// URL like ldaps://dc.example:636 (got "${url}")`);
  }
  if (
    (parsed.protocol !== 'ldap:' && parsed.protocol !== 'ldaps:') ||
    !parsed.hostname ||
    (parsed.pathname !== '' && parsed.pathname !== '/') ||
    parsed.search ||
    parsed.username
  ) {
    throw new ConfigError(
      `LDAP_URL must be an ldap:// or ldaps:// URL with a host and optional port only, like ldaps://dc.example:636 (got "${url}")`,
    );
  }
  const startTls = boolean(env, 'LDAP_STARTTLS', false);
  if (startTls && parsed.protocol === 'ldaps:')
    throw new ConfigError('LDAP_STARTTLS is for ldap:// URLs; an ldaps:// connection is encrypted from the start');
  const bindDn = optional(env, 'LDAP_BIND_DN');
  const bindPassword = optional(env, 'LDAP_BIND_PASSWORD');
  const bindPasswordFile = optional(env, 'LDAP_BIND_PASSWORD_FILE');
  if (bindPassword !== undefined && bindPasswordFile !== undefined)
    throw new ConfigError('Set LDAP_BIND_PASSWORD or LDAP_BIND_PASSWORD_FILE, not both');
  if (bindDn === undefined && (bindPassword !== undefined || bindPasswordFile !== undefined))
    throw new ConfigError('LDAP_BIND_PASSWORD needs LDAP_BIND_DN (the account it belongs to)');
  if (bindDn !== undefined && bindPassword === undefined && bindPasswordFile === undefined)
    throw new ConfigError('LDAP_BIND_DN needs LDAP_BIND_PASSWORD or LDAP_BIND_PASSWORD_FILE');
  const baseDn = optional(env, 'LDAP_BASE_DN');
  if (baseDn === undefined)
    throw new ConfigError('LDAP_BASE_DN must be set with LDAP_URL: where the people are, like ou=people,dc=example,dc=com');
  const filter = optional(env, 'LDAP_FILTER') ?? '(objectClass=person)';
  if (!filter.startsWith('(') || !filter.endsWith(')'))
    throw new ConfigError(`LDAP_FILTER must be an LDAP filter in parentheses, like (objectClass=person) (got "${filter}")`);
  const attribute = (name: string, fallback: string): string => {
    const value = optional(env, name) ?? fallback;
    if (!LDAP_ATTRIBUTE_NAME.test(value))
      throw new ConfigError(`${name} must be an attribute name: letters, digits and -, starting with a letter (got "${value}")`);
    return value;
  };
  return {
    url: `${parsed.protocol}//${parsed.host}`,
    startTls,
    caFile: optional(env, 'LDAP_CA_FILE'),
    bindDn,
    bindPassword,
    bindPasswordFile,
    baseDn,
    filter,
    attributes: {
      userPrincipalName: attribute('LDAP_UPN_ATTRIBUTE', 'userPrincipalName'),
      displayName: attribute('LDAP_DISPLAY_NAME_ATTRIBUTE', 'displayName'),
      mail: attribute('LDAP_MAIL_ATTRIBUTE', 'mail'),
      photo: attribute('LDAP_PHOTO_ATTRIBUTE', 'thumbnailPhoto'),
      stableId: attribute('LDAP_ID_ATTRIBUTE', 'entryUUID'),
      changedAt: attribute('LDAP_CHANGED_ATTRIBUTE', 'modifyTimestamp'),
    },
    disabledRule: ldapDisabledRule(optional(env, 'LDAP_DISABLED_RULE')),
    pageSize: integer(env, 'LDAP_PAGE_SIZE', 500, 1, 10_000),
    intervalMinutes: integer(env, 'LDAP_SYNC_INTERVAL_MINUTES', 0, 0, 7 * 24 * 60),
    timeoutSeconds: integer(env, 'LDAP_TIMEOUT_SECONDS', 30, 1, 600),
  };
}

function ldapDisabledRule(raw: string | undefined): LdapDisabledRule {
  if (raw === undefined || raw === 'none') return { kind: 'none' };
  if (raw === 'userAccountControl') return { kind: 'userAccountControl' };
  const match = /^([A-Za-z][A-Za-z0-9-]{0,63})=(.{1,256})$/.exec(raw);
  if (!match)
    throw new ConfigError(
      `LDAP_DISABLED_RULE must be none, userAccountControl (Active Directory) or attribute=value, like employeeType=disabled (got "${raw}")`,
    );
  return { kind: 'attribute', attribute: match[1]!, value: match[2]! };
}

function optional(env: Record<string, string | undefined>, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function integer(env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

function boolean(env: Record<string, string | undefined>, name: string, fallback: boolean): boolean {
  const raw = optional(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}

function oneOf<T extends string>(env: Record<string, string | undefined>, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

function publicUrl(env: Record<string, string | undefined>, port: number): URL {
  const raw = optional(env, 'PUBLIC_URL') ?? `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an absolute http:// or https:// URL (got "${raw}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`PUBLIC_URL must be an absolute http:// or https:// URL (got "${raw}")`);
  }
  return url;
}
