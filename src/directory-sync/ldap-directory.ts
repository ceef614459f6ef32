import fs from 'node:fs/promises';
import net from 'node:net';
import type tls from 'node:tls';
import type * as Ldapts from 'ldapts';
import type { LdapSyncConfig } from '../config.ts';
import { DirectoryUnavailable } from '../errors.ts';
import type { RawEntry } from './directory-entry.ts';

/** A bound connection to the directory, read page by page. */
export interface DirectorySession {
  /** How many entries the search finds (a cheap search for names only), for the progress bar. */
  count(): Promise<number>;
  /** The entries, one page of the paged search at a time. */
  pages(): AsyncGenerator<RawEntry[]>;
  close(): Promise<void>;
}

export type OpenDirectory = (config: LdapSyncConfig) => Promise<DirectorySession>;

/** Why a connection failed, in words an admin acts on (never a stack). */
function connectionProblem(config: LdapSyncConfig, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  const at = `the LDAP directory at ${config.url}`;
  if (code === 'ECONNREFUSED') return `Cannot reach ${at}: the connection was refused (is the server running, and is the port right?).`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `Cannot reach ${at}: the host name is not known.`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `Cannot reach ${at}: no route to the host.`;
  if (code === 'ECONNRESET')
    return `${at} closed the connection (a TLS or protocol mismatch: ldap:// against an ldaps:// port, or the reverse?).`;
  if (/timeout/i.test(message) || code === 'ETIMEDOUT') return `${at} did not answer within ${config.timeoutSeconds} s.`;
  if (code?.startsWith('ERR_TLS') || code?.includes('CERT') || /certificate/i.test(message)) {
    return `${at} has a TLS certificate this server does not trust (${message}); set LDAP_CA_FILE to the CA that signed it.`;
  }
  return `Cannot reach ${at}: ${message}.`;
}

function searchProblem(ldap: typeof Ldapts, config: LdapSyncConfig, error: unknown): string {
  if (error instanceof ldap.NoSuchObjectError) return `The base DN ${config.baseDn} does not exist in the LDAP directory (LDAP_BASE_DN).`;
  if (error instanceof ldap.ResultCodeError)
    return `The LDAP directory refused the search under ${config.baseDn} with ${config.filter}: ${error.message} (code ${error.code}).`;
  if (error instanceof Error && /filter/i.test(error.message)) return `LDAP_FILTER ${config.filter} cannot be used: ${error.message}.`;
  return connectionProblem(config, error);
}

async function readSecret(file: string, what: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw new DirectoryUnavailable(`Cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
  }
}

/** Connects (TLS or StartTLS as configured), binds, and searches with paging; failures are DirectoryUnavailable. */
export const openLdapDirectory: OpenDirectory = async (config) => {
  // Loaded at the first sync, not with the server: most installations never set LDAP up.
  const ldap = await import('ldapts');
  const tlsOptions: tls.ConnectionOptions = {};
  if (config.caFile) tlsOptions.ca = await readSecret(config.caFile, 'the CA file (LDAP_CA_FILE)');
  const timeout = config.timeoutSeconds * 1000;
  // TLS options go to the client for ldaps:// only: ldapts given them on an ldap:// URL breaks StartTLS's handshake.
  const secure = config.url.startsWith('ldaps:');
  const client = new ldap.Client({ url: config.url, timeout, connectTimeout: timeout, ...(secure && { tlsOptions }), strictDN: false });
  const fail = async (message: string): Promise<never> => {
    // Closing what may never have opened; the failure thrown below is what is reported.
    await client.unbind().catch(() => {});
    throw new DirectoryUnavailable(message);
  };
  try {
    // The certificate is checked against the URL's host (SNI only for names: RFC 6066 forbids IPs there).
    const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
    if (config.startTls) await client.startTLS({ ...tlsOptions, host, ...(net.isIP(host) === 0 && { servername: host }) });
  } catch (error) {
    await fail(`StartTLS with the LDAP directory at ${config.url} failed: ${connectionProblem(config, error)}`);
  }
  if (config.bindDn) {
    const password =
      config.bindPassword ?? (await readSecret(config.bindPasswordFile!, 'the bind password file (LDAP_BIND_PASSWORD_FILE)'));
    try {
      await client.bind(config.bindDn, password);
    } catch (error) {
      if (error instanceof ldap.InvalidCredentialsError)
        await fail(
          `The LDAP directory at ${config.url} refused the bind as ${config.bindDn}: wrong bind DN or password (LDAP_BIND_DN, LDAP_BIND_PASSWORD).`,
        );
      if (error instanceof ldap.ResultCodeError)
        await fail(`The LDAP directory at ${config.url} refused the bind as ${config.bindDn}: ${error.message} (code ${error.code}).`);
      await fail(connectionProblem(config, error));
    }
  }
  const { attributes } = config;
  const wanted = [
    attributes.userPrincipalName,
    attributes.displayName,
    attributes.mail,
    attributes.photo,
    attributes.stableId,
    attributes.changedAt,
  ];
  if (config.disabledRule.kind === 'userAccountControl') wanted.push('userAccountControl');
  if (config.disabledRule.kind === 'attribute') wanted.push(config.disabledRule.attribute);
  const paged = { pageSize: config.pageSize };

  return {
    async count() {
      let entries = 0;
      try {
        // '1.1': no attributes, only the names.
        for await (const page of client.searchPaginated(config.baseDn, { scope: 'sub', filter: config.filter, attributes: ['1.1'], paged }))
          entries += page.searchEntries.length;
      } catch (error) {
        await fail(searchProblem(ldap, config, error));
      }
      return entries;
    },
    async *pages() {
      const pages = client.searchPaginated(config.baseDn, {
        scope: 'sub',
        filter: config.filter,
        attributes: [...new Set(wanted)],
        explicitBufferAttributes: [attributes.photo, attributes.stableId],
        paged,
      });
      while (true) {
        let next: IteratorResult<{ searchEntries: unknown[] }>;
        try {
          next = await pages.next();
        } catch (error) {
          await fail(searchProblem(ldap, config, error));
          return;
        }
        if (next.done) return;
        yield next.value.searchEntries as RawEntry[];
      }
    },
    async close() {
      // The run is over; a connection that will not close cleanly is dropped with the process's sockets.
      await client.unbind().catch(() => {});
    },
  };
};
