import type { PhotoOrigin } from '../mail/index.ts';

export const DIRECTORY_SOURCES = ['ldap', 'oidc'] as const;
export type DirectorySource = (typeof DIRECTORY_SOURCES)[number];

export const DIRECTORY_PHOTO_POLICIES = ['never', 'fill-when-empty', 'authoritative'] as const;
export type DirectoryPhotoPolicy = (typeof DIRECTORY_PHOTO_POLICIES)[number];
export const DEFAULT_PHOTO_POLICY: DirectoryPhotoPolicy = 'fill-when-empty';

export type DirectoryPhotoOutcome = 'imported' | 'unchanged' | 'not-used' | 'kept-own-photo' | 'removed';

/** The source as people know it, for pages and messages. */
export const SOURCE_WORDS: Record<DirectorySource, string> = {
  ldap: 'the LDAP directory',
  oidc: 'the sign-in provider (OIDC)',
};

/** What a source last said about the person (none: it never said anything). */
export interface LastReceived {
  receivedEtag: string | null;
  importedEtag: string | null;
}

export interface PhotoDecisionInput {
  source: DirectorySource;
  policy: DirectoryPhotoPolicy;
  /** The content hash of the directory's photo now; null: the directory has none. */
  incomingEtag: string | null;
  last: LastReceived | undefined;
  /** Mail's current photo. */
  mail: { etag: string; source: PhotoOrigin } | undefined;
}

export interface PhotoDecision {
  action: 'import' | 'remove' | 'none';
  outcome: DirectoryPhotoOutcome;
  reason: string;
}

/**
 * The photo policy as one pure rule. Sites is not part of it: Sites only ever copies Mail.
 * - never: Mail never takes the source's photo.
 * - fill-when-empty: Mail takes it when it has none, and keeps following the source while its photo
 *   is the one the source gave (the person has not chosen their own since). A photo the person
 *   removed is not filled in again until the directory's photo changes.
 * - authoritative: Mail follows the source, photo and absence alike.
 */
export function decidePhoto(input: PhotoDecisionInput): PhotoDecision {
  const { source, policy, incomingEtag, last, mail } = input;
  const directoryUnchanged = last !== undefined && last.receivedEtag === incomingEtag;
  const mailFromSource = mail?.source === source;
  const notTaken = (outcome: 'not-used' | 'kept-own-photo', reason: string): PhotoDecision => ({
    action: 'none',
    outcome: directoryUnchanged ? 'unchanged' : outcome,
    reason,
  });

  if (incomingEtag === null) {
    if (policy === 'never') return notTaken('not-used', `the photo policy for ${SOURCE_WORDS[source]} is "never"`);
    if (!mail) return { action: 'none', outcome: 'unchanged', reason: 'neither the directory nor Mail has a photo' };
    if (policy === 'authoritative')
      return { action: 'remove', outcome: 'removed', reason: 'the directory has no photo and is authoritative' };
    if (mailFromSource) return { action: 'remove', outcome: 'removed', reason: 'the directory no longer has the photo it gave Mail' };
    return notTaken('kept-own-photo', "the directory has no photo; the person's own photo stays");
  }
  if (mail?.etag === incomingEtag) return { action: 'none', outcome: 'unchanged', reason: 'Mail already has this photo' };
  if (policy === 'never') return notTaken('not-used', `the photo policy for ${SOURCE_WORDS[source]} is "never"`);
  if (policy === 'authoritative') return { action: 'import', outcome: 'imported', reason: 'the directory is authoritative' };
  if (mailFromSource) return { action: 'import', outcome: 'imported', reason: "Mail's photo came from the directory, which has a new one" };
  if (mail) return notTaken('kept-own-photo', 'the person has their own photo in Mail');
  if (last?.importedEtag === incomingEtag) {
    return {
      action: 'none',
      outcome: 'unchanged',
      reason: "this photo was removed from Mail after it came from the directory; it comes back only when the directory's photo changes",
    };
  }
  return { action: 'import', outcome: 'imported', reason: 'the person had no photo in Mail' };
}

export function isDirectorySource(value: unknown): value is DirectorySource {
  return typeof value === 'string' && (DIRECTORY_SOURCES as readonly string[]).includes(value);
}

export function isDirectoryPhotoPolicy(value: unknown): value is DirectoryPhotoPolicy {
  return typeof value === 'string' && (DIRECTORY_PHOTO_POLICIES as readonly string[]).includes(value);
}
