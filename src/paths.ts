import { existsSync } from 'node:fs';
import path from 'node:path';

function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

/** The folder holding package.json, whether the code runs from src/ (tsx) or dist/src/ (compiled). */
export const projectRoot = findProjectRoot(import.meta.dirname);
export const viewsDir = path.join(projectRoot, 'views');
export const publicDir = path.join(projectRoot, 'public');
export const migrationsDir = path.join(projectRoot, 'migrations');
