export {
  DirectorySync,
  DIRECTORY_OUTCOMES,
  type DirectoryOutcome,
  type DirectoryEntryResult,
  type DirectorySyncReport,
  type DirectorySyncOptions,
  type PeopleWriter,
  type DirectoryPhotoReceiver,
} from './directory-sync.ts';
export { LdapEntryStore } from './ldap-entry-store.ts';
export { openLdapDirectory, type OpenDirectory, type DirectorySession } from './ldap-directory.ts';
export { mapEntry, type RawEntry, type DirectoryEntry } from './directory-entry.ts';
