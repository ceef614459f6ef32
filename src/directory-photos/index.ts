export { DirectoryPhotoIntake, type DirectoryPhotoIntakeOptions } from './directory-photo-intake.ts';
export { DirectoryPhotoStore } from './directory-photo-store.ts';
export {
  DIRECTORY_SOURCES,
  DIRECTORY_PHOTO_POLICIES,
  DEFAULT_PHOTO_POLICY,
  SOURCE_WORDS,
  decidePhoto,
  isDirectorySource,
  isDirectoryPhotoPolicy,
  type DirectorySource,
  type DirectoryPhotoPolicy,
  type DirectoryPhotoOutcome,
  type PhotoDecision,
  type PhotoDecisionInput,
} from './photo-policy.ts';
