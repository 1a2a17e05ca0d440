/** The roles of the service, least to most privileged; each includes the ones before it. */
export const ROLES = ['viewer', 'analyst', 'uploader', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** `admin` ⊃ `uploader` ⊃ `analyst` ⊃ `viewer` (authenticate()'s roleInheritance). */
export const ROLE_INHERITANCE: Readonly<Record<Role, readonly Role[]>> = {
  admin: ['uploader'],
  uploader: ['analyst'],
  analyst: ['viewer'],
  viewer: [],
};

export const isRole = (value: string): value is Role =>
  (ROLES as readonly string[]).includes(value);
