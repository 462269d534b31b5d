import { copyFileSync, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { Db } from '../db/database.js';
import { openMigratedDatabase } from '../db/migrate.js';
import { createAccountsService, type AccountsService, type UserSummary } from '../features/accounts/index.js';
import { AppError, ValidationError } from '../http/errors.js';
import { createSecurityEventWriter } from '../http/security-events.js';
import { formatBytes } from '../lib/format.js';
import { backupDatabaseAndImages } from '../storage/index.js';

/**
 * Offline user administration for whoever runs the server: `npm run admin -- <command>`. It opens the
 * same database as the server (WAL mode and a busy timeout let both run at once) and acts through the
 * accounts service with no acting user, so the same rules hold (there is always an active admin).
 */
const USAGE = `Usage: npm run admin -- <command>

Commands:
  list                      all users with role, status and last login
  create <user> [--admin]   create an account (password from INKWELL_PASSWORD or a prompt)
  promote <user>            make a user an administrator
  demote <user>             make an administrator a plain user
  disable <user>            block sign-in and end the user's sessions
  enable <user>             allow sign-in again
  reset-password <user>     set a new password (from INKWELL_PASSWORD or a prompt); ends the user's sessions
  backup <folder>           an online, consistent backup of the database, the image files and the model
                            versions made here, into a new folder inside <folder> (the server may keep running)
  help                      this text

The database is the one in DATA_DIR (default: data/), and the files in UPLOAD_DIR, as for the server.
Changes to users are recorded in the security events as made from the command line.`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Asks for a password without echoing it; `confirm` asks twice (only where a person is typing). */
  readPassword(prompt: string, confirm: boolean): Promise<string>;
}

class CliError extends Error {}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Runs one command. Returns the exit status; never calls process.exit, so tests can call it directly. */
export async function runAdminCli(args: string[], { env = process.env, io = processIo() }: { env?: NodeJS.ProcessEnv; io?: CliIo } = {}): Promise<number> {
  const [command, ...rest] = args;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out(USAGE);
    return command ? EXIT_OK : EXIT_USAGE;
  }
  if (!(command in commands)) {
    io.err(`Unknown command "${command}".\n\n${USAGE}`);
    return EXIT_USAGE;
  }

  let db;
  try {
    const config = loadConfig(env);
    ({ db } = openMigratedDatabase(config.databaseFile));
    const accounts = createAccountsService({ db, bcryptCost: config.bcryptCost });
    // The one environment variable read outside src/config.ts: a password for `create` and `reset-password`
    // in scripts, where nobody can type at a prompt. It is never a setting of the server.
    const passwordFromEnv = env.INKWELL_PASSWORD || undefined;
    await commands[command as keyof typeof commands]({ args: rest, accounts, io, passwordFromEnv, config, db, audit: auditFrom(db) });
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CliError || err instanceof AppError || err instanceof ConfigError) {
      const fields = err instanceof ValidationError ? Object.values(err.fields) : [];
      io.err(['Error: ' + err.message, ...fields.map((f) => `  ${f}`)].join('\n'));
      return EXIT_FAILED;
    }
    throw err;
  } finally {
    db?.close();
  }
}

interface CommandContext {
  args: string[];
  accounts: AccountsService;
  io: CliIo;
  passwordFromEnv: string | undefined;
  config: Config;
  db: Db;
  /** Records a change to a user as a security event made from the command line. */
  audit(action: string, user: { id: number; username: string }, detail?: string): void;
}

function auditFrom(db: Db): CommandContext['audit'] {
  const write = createSecurityEventWriter(db);
  return (action, user, detail = '') =>
    write([
      {
        at: Date.now(),
        kind: 'admin_action',
        userId: null,
        username: null,
        targetUserId: user.id,
        targetUsername: user.username,
        action,
        detail: detail ? `command line: ${detail}` : 'command line',
        clientIp: null,
        requestId: null,
      },
    ]);
}

function oneUsername(args: string[], usage: string): string {
  const names = args.filter((a) => !a.startsWith('--'));
  if (names.length !== 1) throw new CliError(`Expected exactly one username. Usage: npm run admin -- ${usage}`);
  return names[0]!;
}

function findUser(accounts: AccountsService, username: string): UserSummary {
  const user = accounts.findByUsername(username);
  if (!user) throw new CliError(`There is no user "${username}".`);
  return user;
}

async function newPassword({ io, passwordFromEnv }: CommandContext, username: string): Promise<string> {
  if (passwordFromEnv !== undefined) return passwordFromEnv;
  return io.readPassword(`New password for ${username}: `, true);
}

const commands = {
  async list({ accounts, io }: CommandContext) {
    const users = accounts.listUsers();
    if (!users.length) {
      io.out(
        'No users yet. Create the administrator here with: npm run admin -- create <user> --admin\n' +
          'or open /register in a browser with the setup code that the server prints in its log at start.',
      );
      return;
    }
    const rows = users.map((u) => [
      String(u.id),
      u.username,
      u.role,
      u.disabled ? 'disabled' : 'active',
      u.createdAt.slice(0, 16).replace('T', ' '),
      u.lastLoginAt ? u.lastLoginAt.slice(0, 16).replace('T', ' ') : 'never',
    ]);
    const header = ['ID', 'USERNAME', 'ROLE', 'STATUS', 'CREATED (UTC)', 'LAST LOGIN (UTC)'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) io.out(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  },

  async create(ctx: CommandContext) {
    const username = oneUsername(ctx.args, 'create <user> [--admin]');
    const unknownFlags = ctx.args.filter((a) => a.startsWith('--') && a !== '--admin');
    if (unknownFlags.length) throw new CliError(`Unknown option ${unknownFlags.join(', ')}. Only --admin is accepted.`);
    const role = ctx.args.includes('--admin') ? 'admin' : 'user';
    const password = await newPassword(ctx, username);
    const user = await ctx.accounts.createUser({ username, password, role });
    ctx.audit('user.create', user, `role ${role}`);
    ctx.io.out(`Created ${role === 'admin' ? 'administrator' : 'user'} ${user.username} (id ${user.id}).`);
  },

  async promote({ args, accounts, io, audit }: CommandContext) {
    const user = findUser(accounts, oneUsername(args, 'promote <user>'));
    accounts.setRole(null, user.id, 'admin');
    audit('user.promote', user);
    io.out(`${user.username} is now an administrator.`);
  },

  async demote({ args, accounts, io, audit }: CommandContext) {
    const user = findUser(accounts, oneUsername(args, 'demote <user>'));
    accounts.setRole(null, user.id, 'user');
    audit('user.demote', user);
    io.out(`${user.username} is now a plain user.`);
  },

  async disable({ args, accounts, io, audit }: CommandContext) {
    const user = findUser(accounts, oneUsername(args, 'disable <user>'));
    accounts.setDisabled(null, user.id, true);
    audit('user.disable', user);
    io.out(`${user.username} is disabled and has been signed out everywhere.`);
  },

  async enable({ args, accounts, io, audit }: CommandContext) {
    const user = findUser(accounts, oneUsername(args, 'enable <user>'));
    accounts.setDisabled(null, user.id, false);
    audit('user.enable', user);
    io.out(`${user.username} can sign in again.`);
  },

  async 'reset-password'(ctx: CommandContext) {
    const user = findUser(ctx.accounts, oneUsername(ctx.args, 'reset-password <user>'));
    await ctx.accounts.resetPassword(user.id, await newPassword(ctx, user.username));
    ctx.audit('user.password_reset', user, 'password set');
    ctx.io.out(`The password of ${user.username} has been changed and their sessions have ended.`);
  },

  async backup({ args, config, db, io }: CommandContext) {
    if (args.length !== 1) throw new CliError('Expected one folder. Usage: npm run admin -- backup <folder>');
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const folder = path.resolve(args[0]!, `inkwell-backup-${stamp}`);
    if (existsSync(folder)) throw new CliError(`${folder} exists already.`);
    mkdirSync(folder, { recursive: true });
    const result = await backupDatabaseAndImages({ db, uploadDir: config.uploadDir, folder });
    // Without it, restored sessions and API tokens would stop working (a new secret is generated).
    const secret = path.join(config.dataDir, 'session-secret');
    if (existsSync(secret)) copyFileSync(secret, path.join(folder, 'session-secret'));
    // Model versions trained or uploaded here (src/features/models): written before their row and deleted after it,
    // so a copy taken after the database snapshot has the folder of every version the snapshot lists.
    const versions = path.join(config.dataDir, 'models');
    if (existsSync(versions)) cpSync(versions, path.join(folder, 'models'), { recursive: true, filter: (source) => path.basename(source) !== '.incoming' });
    writeFileSync(
      path.join(folder, 'RESTORE.txt'),
      `Inkwell backup of ${new Date().toISOString()}\n\nTo restore (the server stopped):\n` +
        `  cp inkwell.sqlite DATA_DIR/inkwell.sqlite && rm -f DATA_DIR/inkwell.sqlite-wal DATA_DIR/inkwell.sqlite-shm\n` +
        `  cp session-secret DATA_DIR/ (if present; keeps sessions and API tokens valid)\n` +
        `  rm -rf UPLOAD_DIR/users && cp -a uploads/users UPLOAD_DIR/\n` +
        `  rm -rf DATA_DIR/models && cp -a models DATA_DIR/ (if present: trained and uploaded model versions)\n` +
        `then start the server: migrations run at start. See README, "Backups".\n`,
    );
    io.out(`Backed up the database and ${result.files} image files (${formatBytes(result.bytes)}) to ${folder}`);
  },
};

/** Reads a line from a terminal without echoing it (raw mode), or the first line of piped input. */
function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  if (!stdin.isTTY) {
    const rl = createInterface({ input: stdin });
    return new Promise((resolve, reject) => {
      rl.once('line', (line) => {
        resolve(line); // before close(), which emits 'close' at once
        rl.close();
      });
      rl.once('close', () => reject(new CliError('No password given (set INKWELL_PASSWORD or type it at the prompt).')));
    });
  }
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (result: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      result();
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(() => resolve(value));
        if (ch === '\u0003') return finish(() => reject(new CliError('Cancelled.')));
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else value += ch;
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

function processIo(): CliIo {
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    async readPassword(prompt, confirm) {
      const first = await readHidden(prompt);
      if (confirm && process.stdin.isTTY) {
        const second = await readHidden('Repeat it: ');
        if (first !== second) throw new CliError('The two passwords do not match.');
      }
      return first;
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runAdminCli(process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exitCode = EXIT_FAILED;
    },
  );
}
