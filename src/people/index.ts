export {
  PeopleLifecycle,
  LastAdmin,
  type PersonDetails,
  type PeopleLifecycleOptions,
  type PeopleLifecycleServices,
  type PeopleChangeTopic,
} from './people-lifecycle.ts';
export { PeopleSettingsStore, DISABLED_MAIL_PHOTO_CHOICES, type DisabledMailPhoto } from './people-settings.ts';
