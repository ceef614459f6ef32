import { randomBytes } from 'node:crypto';
import type { Services } from '../services.ts';
import { CLI_ACTOR } from '../identity/index.ts';
import { drawDemoPortrait } from '../imaging/index.ts';

const DEMO_DOMAIN = 'contoso.example';
const DEMO_PEOPLE = [
  { name: 'Ada Lovelace', hue: 210, mailPhoto: true },
  { name: 'Grace Hopper', hue: 15, mailPhoto: true },
  { name: 'Alan Turing', hue: 140, mailPhoto: true },
  { name: 'Katherine Johnson', hue: 280, mailPhoto: true },
  // No Mail photo but a directory photo: Sites must still show the placeholder.
  { name: 'Margaret Hamilton', hue: 45, mailPhoto: false, directoryPhoto: true },
  { name: 'Tim Berners-Lee', hue: 330, mailPhoto: false },
] as const;

export interface DemoSeed {
  password: string;
  people: string[];
}

/**
 * People with generated photos, so a newcomer sees a working system at once. Every `serve --demo`
 * gives them a fresh random password (printed once); nothing is a known default.
 */
export async function seedDemoPeople(services: Services): Promise<DemoSeed> {
  const password = randomBytes(9).toString('base64url');
  const passwordHash = await services.identity.hashPassword(password);
  const people: string[] = [];
  for (const entry of DEMO_PEOPLE) {
    const upn = `${entry.name.toLowerCase().replace(/[^a-z]+/g, '.')}@${DEMO_DOMAIN}`;
    const initials = entry.name
      .split(/[\s-]+/)
      .map((w) => w[0])
      .join('');
    let person = await services.directory.findPerson(upn);
    if (!person) {
      person = await services.directory.addPerson({ userPrincipalName: upn, displayName: entry.name, mail: upn });
      if (entry.mailPhoto) {
        const photo = await drawDemoPortrait({ initials, hue: entry.hue });
        await services.mail.setPhoto(CLI_ACTOR, person, photo, 'seed');
      }
      if ('directoryPhoto' in entry) {
        // The opposite hue: a demo shows plainly that Sites never takes this one.
        await services.directory.setDirectoryPhoto(person.id, await drawDemoPortrait({ initials, hue: (entry.hue + 180) % 360, size: 96 }));
      }
    }
    await services.directory.setPasswordHash(person.id, passwordHash, false);
    people.push(upn);
  }
  return { password, people };
}
