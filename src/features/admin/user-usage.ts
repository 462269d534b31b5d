import { formatBytes } from '../../lib/format.js';

/**
 * What a feature stores per user, for the admin user pages (the users table, a user's page, the delete
 * confirmation). Each feature contributes sources where the app is composed (src/app.ts), e.g.
 *   { label: 'library images', unit: 'items', byUser: () => images.countByUser() }
 * so the admin feature never reads another feature's tables.
 */
export interface UserUsageSource {
  /** What is counted, plural and lower-case: "library images", "datasets". */
  label: string;
  /** `items` are counted things; `bytes` is storage, shown as KB/MB/GB. */
  unit: 'items' | 'bytes';
  /** Every user's total at once (one query for the whole table); users with none may be left out. */
  byUser(): Map<number, number>;
}

export interface UsageFigure {
  label: string;
  unit: 'items' | 'bytes';
  value: number;
  /** "12 library images", "3.1 MB". */
  text: string;
}

const describe = (source: UserUsageSource, value: number) =>
  source.unit === 'bytes' ? formatBytes(value) : `${value.toLocaleString('en-US')} ${source.label}`;

/** Reads every source once and answers per user: each source's figure, zero where a user has none. */
export function collectUsage(sources: readonly UserUsageSource[]): (userId: number) => UsageFigure[] {
  const tables = sources.map((source) => ({ source, values: source.byUser() }));
  return (userId) =>
    tables.map(({ source, values }) => {
      const value = values.get(userId) ?? 0;
      return { label: source.label, unit: source.unit, value, text: describe(source, value) };
    });
}
