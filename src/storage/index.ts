export { openDatabase, type Database, type DatabaseOptions, type Dialect, type SqlExecutor } from './database.ts';
export type * from './schema.ts';
export { isUniqueViolation } from './unique-violation.ts';
export { lockPersonRow } from './person-lock.ts';
export type { CrossProcess } from './cross-process.ts';
export { sqlExecutorFor } from './sql-executor.ts';
export { claimIntervalTurn } from './interval-turn.ts';
