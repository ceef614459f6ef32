import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Change, Attribute } from 'ldapts';
import { freePort } from './killable-server.ts';

/**
 * A real OpenLDAP server (Debian's slapd) for the directory-sync tests: started unattended in a temp
 * folder on a free loopback port, with the stock schemas plus a small one of our own for what Active
 * Directory has and Debian ships no schema for (thumbnailPhoto, userPrincipalName, userAccountControl).
 */

const SLAPD = ['/usr/sbin/slapd', '/usr/local/sbin/slapd'].find((file) => fs.existsSync(file));
const REQUIRED = process.env.PHOTOSYNC_REQUIRE_POSTGRES === '1';

/** Why LDAP tests are skipped on this machine, or undefined when they run. CI (.ci/run) installs slapd and requires them. */
export const slapdSkipReason: string | undefined = (() => {
  if (SLAPD) return undefined;
  const why = 'slapd is not installed (Debian: apt-get install slapd ldap-utils)';
  if (REQUIRED) throw new Error(`${why}, and PHOTOSYNC_REQUIRE_POSTGRES=1 (CI) makes the LDAP tests required`);
  return `${why}; LDAP directory-sync tests are skipped`;
})();
if (slapdSkipReason) console.log(`# ${slapdSkipReason}`);

export const BASE_DN = 'dc=example,dc=test';
export const ROOT_DN = `cn=admin,${BASE_DN}`;
export const ROOT_PASSWORD = 'slapd test secret';

// A private test arc (never used outside these tests). Syntaxes: 1.3.6.1.4.1.1466.115.121.1.40 octet
// string, .15 directory string, .27 integer.
const TEST_SCHEMA = `
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'thumbnailPhoto'
  DESC 'Active Directory: a small photo of the person'
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userPrincipalName'
  DESC 'Active Directory: the sign-in name'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.3 NAME 'userAccountControl'
  DESC 'Active Directory: account flags (2 = disabled)'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.4 NAME 'photosyncTestStatus'
  DESC 'A plain disabled flag, for the attribute=value rule'
  EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'photosyncTestAccount'
  DESC 'Lets an inetOrgPerson carry the attributes above'
  SUP top AUXILIARY
  MAY ( thumbnailPhoto $ userPrincipalName $ userAccountControl $ photosyncTestStatus ) )
`;

export interface TestPerson {
  uid: string;
  userPrincipalName?: string;
  displayName?: string;
  mail?: string;
  photo?: Buffer;
  userAccountControl?: number;
  status?: string;
}

/** An organizational unit of its own per test: the sync's base DN, so tests share one server. */
export interface DirectoryBranch {
  baseDn: string;
  add(people: readonly TestPerson[]): Promise<void>;
  modify(uid: string, changes: Partial<Omit<TestPerson, 'uid'>>): Promise<void>;
  remove(uid: string): Promise<void>;
}

export interface Slapd {
  url: string;
  port: number;
  /** With `tls`: the ldaps:// address (StartTLS works on `url`) and the CA that signed the server's certificate. */
  tls?: { ldapsUrl: string; caFile: string };
  /** A bound admin client for seeding and changing entries. */
  admin: Client;
  /** A new, empty ou=<name> under the base. */
  branch(name: string): Promise<DirectoryBranch>;
  stop(): Promise<void>;
}

/**
 * A CA and a server certificate for 127.0.0.1 made with openssl, for ldaps:// and StartTLS. The CA is
 * the one the sync must be told about (LDAP_CA_FILE): nothing trusts it by default.
 */
function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => {
    const run = spawnSync('openssl', args, { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
  };
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=photosync test CA',
  );
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.pem'),
    '-days',
    '2',
    '-extfile',
    file('san.cnf'),
  );
  return { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') };
}

function slapdConf(dir: string, tls?: { caFile: string; certFile: string; keyFile: string }): string {
  const schemas = ['core', 'cosine', 'inetorgperson', 'nis'].map((name) => `include /etc/ldap/schema/${name}.schema`).join('\n');
  return `${schemas}
include ${path.join(dir, 'photosync-test.schema')}
pidfile ${path.join(dir, 'slapd.pid')}
${tls ? `TLSCACertificateFile ${tls.caFile}\nTLSCertificateFile ${tls.certFile}\nTLSCertificateKeyFile ${tls.keyFile}` : ''}
modulepath /usr/lib/ldap
moduleload back_mdb
# Paging has to be real: no server-side limit that would hide it.
sizelimit unlimited
database mdb
maxsize 268435456
suffix "${BASE_DN}"
rootdn "${ROOT_DN}"
rootpw "${ROOT_PASSWORD}"
directory ${path.join(dir, 'data')}
index objectClass eq
index uid eq
`;
}

/** Waits until slapd answers a bind, or fails with what it printed. */
async function waitForSlapd(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`slapd exited at start:\n${output()}`);
    const client = new Client({ url, connectTimeout: 1000, timeout: 2000 });
    try {
      await client.bind(ROOT_DN, ROOT_PASSWORD);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.unbind().catch(() => {});
    }
  }
  throw new Error(`slapd did not answer within 30 s:\n${output()}`);
}

function attributesOf(person: TestPerson): Attribute[] {
  const displayName = person.displayName ?? person.uid;
  const values: Record<string, string | string[] | Buffer> = {
    objectClass: ['inetOrgPerson', 'photosyncTestAccount'],
    uid: person.uid,
    cn: displayName,
    sn: displayName.split(' ').at(-1) || person.uid,
    displayName,
    ...(person.userPrincipalName !== undefined && { userPrincipalName: person.userPrincipalName }),
    ...(person.mail !== undefined && { mail: person.mail }),
    ...(person.photo !== undefined && { thumbnailPhoto: person.photo }),
    ...(person.userAccountControl !== undefined && { userAccountControl: String(person.userAccountControl) }),
    ...(person.status !== undefined && { photosyncTestStatus: person.status }),
  };
  return Object.entries(values).map(
    ([type, value]) => new Attribute({ type, values: Buffer.isBuffer(value) ? [value] : Array.isArray(value) ? value : [value] }),
  );
}

const ATTRIBUTE_NAMES: Record<keyof Omit<TestPerson, 'uid'>, string> = {
  userPrincipalName: 'userPrincipalName',
  displayName: 'displayName',
  mail: 'mail',
  photo: 'thumbnailPhoto',
  userAccountControl: 'userAccountControl',
  status: 'photosyncTestStatus',
};

/** Starts slapd in a temp folder; `stop()` kills it for sure and removes the folder. */
export async function startSlapd(options: { tls?: boolean } = {}): Promise<Slapd> {
  if (!SLAPD) throw new Error(slapdSkipReason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'photosync-slapd-'));
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'photosync-test.schema'), TEST_SCHEMA);
  const certificates = options.tls ? makeCertificates(dir) : undefined;
  fs.writeFileSync(path.join(dir, 'slapd.conf'), slapdConf(dir, certificates));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = certificates ? `ldaps://127.0.0.1:${await freePort()}` : undefined;
  // -d 0: stays in the foreground (so it dies with its process group) and logs nothing unless it fails.
  const child = spawn(
    SLAPD,
    [
      '-f',
      path.join(dir, 'slapd.conf'),
      '-h',
      [url, ldapsUrl]
        .filter(Boolean)
        .map((u) => `${u}/`)
        .join(' '),
      '-d',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  try {
    await waitForSlapd(url, child, () => output);
  } catch (error) {
    kill();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const admin = new Client({ url, timeout: 30_000 });
  await admin.bind(ROOT_DN, ROOT_PASSWORD);
  await admin.add(BASE_DN, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });

  return {
    url,
    port,
    ...(certificates && ldapsUrl && { tls: { ldapsUrl, caFile: certificates.caFile } }),
    admin,
    async branch(name) {
      const baseDn = `ou=${name},${BASE_DN}`;
      await admin.add(baseDn, { objectClass: ['organizationalUnit'], ou: name });
      const dnOf = (uid: string) => `uid=${uid},${baseDn}`;
      return {
        baseDn,
        async add(people) {
          for (const person of people) await admin.add(dnOf(person.uid), attributesOf(person));
        },
        async modify(uid, changes) {
          const list = Object.entries(changes).map(([key, value]) => {
            const type = ATTRIBUTE_NAMES[key as keyof typeof ATTRIBUTE_NAMES];
            if (value === undefined) return new Change({ operation: 'delete', modification: new Attribute({ type }) });
            const values = Buffer.isBuffer(value) ? [value] : [String(value)];
            return new Change({ operation: 'replace', modification: new Attribute({ type, values }) });
          });
          await admin.modify(dnOf(uid), list);
        },
        async remove(uid) {
          await admin.del(dnOf(uid));
        },
      };
    },
    async stop() {
      await admin.unbind().catch(() => {});
      const exited = new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
      );
      child.kill('SIGTERM');
      const timer = setTimeout(kill, 5000);
      await exited;
      clearTimeout(timer);
      process.off('exit', kill);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
