import type { DirectoryService, Person } from '../directory/index.ts';
import { UserNotFound } from '../errors.ts';

/**
 * The person a command names: by user principal name (or id), else by mail address, as sign-in and
 * SharePoint's accountname accept either. Not found is a `UserNotFound`, which the CLI words plainly.
 */
export async function getNamedPerson(directory: DirectoryService, name: string): Promise<Person> {
  const person = (await directory.findPerson(name)) ?? (await directory.findByUpnOrMail(name));
  if (!person) throw new UserNotFound(name);
  return person;
}
