export { DirectoryService, DIRECTORY_PHOTO_MAX_BYTES, type PeopleImportReport, type ImportOutcome } from './directory-service.ts';
export { PeopleStore, type PeopleQuery, type PersonState } from './people-store.ts';
export { ROLES, type Person, type Role, type NewPerson } from './person.ts';
export { parseCsv, CsvSyntaxError, type CsvRecord } from './csv.ts';
