export type Role = 'admin' | 'user';
export const ROLES: readonly Role[] = ['admin', 'user'];

/** A person in the directory, as every other domain sees them. */
export interface Person {
  id: string;
  userPrincipalName: string;
  mail: string | null;
  displayName: string;
  enabled: boolean;
  role: Role;
  mustChangePassword: boolean;
}

export interface NewPerson {
  userPrincipalName: string;
  displayName?: string | undefined;
  mail?: string | undefined;
  role?: Role | undefined;
  passwordHash?: string | undefined;
  mustChangePassword?: boolean | undefined;
}

const UPN = /^[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+$/;

export function isValidUserPrincipalName(value: string): boolean {
  return value.length <= 256 && UPN.test(value);
}

/** A display name made from the UPN's local part when none is given: "ada.lovelace" → "Ada Lovelace". */
export function displayNameFromUpn(upn: string): string {
  const local = upn.split('@')[0] ?? upn;
  return local
    .split(/[._-]+/)
    .filter(Boolean)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join(' ');
}
