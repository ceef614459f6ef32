import { randomBytes } from 'node:crypto';
import type { DirectoryService, Person } from '../directory/index.ts';
import { AlreadyExists } from '../errors.ts';
import type { IdentityService } from './identity-service.ts';

export type FirstAdminResult = { created: false } | { created: true; person: Person; oneTimePassword?: string };

/**
 * A fresh installation gets one admin: with the configured password, or with a random one-time
 * password that must be changed at first sign-in. There is never a known default password.
 */
export async function ensureFirstAdmin(
  directory: DirectoryService,
  identity: IdentityService,
  options: { userPrincipalName: string; password?: string | undefined },
): Promise<FirstAdminResult> {
  if (await directory.hasEnabledAdmin()) return { created: false };
  const oneTimePassword = options.password ? undefined : randomBytes(18).toString('base64url');
  const passwordHash = await identity.hashPassword(options.password ?? oneTimePassword!);
  const existing = await directory.findPerson(options.userPrincipalName);
  let person = existing;
  try {
    person ??= await directory.addPerson({ userPrincipalName: options.userPrincipalName, displayName: 'Administrator', role: 'admin' });
  } catch (error) {
    // Another process starting at the same moment created it first: theirs stands.
    if (error instanceof AlreadyExists) return { created: false };
    throw error;
  }
  if (existing) await directory.setRole(existing.id, 'admin');
  await directory.setPasswordHash(person.id, passwordHash, oneTimePassword !== undefined);
  return { created: true, person, ...(oneTimePassword && { oneTimePassword }) };
}
