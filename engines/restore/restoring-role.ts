import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { parseTocLine } from '../../core/archive-toc.ts';
import { ConfigError } from '../../core/errors.ts';
import { quoteIdent } from '../../core/table-stats.ts';
import { IDENT, runAlone, unquote } from './checked-statements.ts';
import type { ReportedError } from './restore-errors.ts';
import { archiveListing, archiveScript, type PgRestoreSelection } from './restore-tools.ts';

/**
 * A drill restores an archive nobody has vetted, so nothing in it may run with power. The archive is
 * restored by {@link RESTORING_ROLE}, an ordinary role (the way RDS's master user is not a superuser):
 * a function that reaches for `COPY ... TO PROGRAM`, an untrusted language or a server file fails instead
 * of running. What only a superuser may do is done by the scratch server's superuser around the
 * restore, from the server's own files or from statements pgproof builds and checks, never by running
 * the archive's SQL:
 *
 * - before: the roles of globals.sql, none of them a superuser or replication role here
 *   ({@link demoteRoles}); the restoring role, a member of each of them so that grants and default
 *   privileges restore ({@link prepareRestoringRole}); the extensions the archive creates, from the
 *   server's own extension files ({@link createExtensions});
 * - during: `pg_restore --no-owner` as the restoring role, without the archive's extension entries;
 * - after: each object given to its owner with one `ALTER ... OWNER TO` statement of a fixed shape,
 *   run alone ({@link giveOwnership}), never to a role that is a superuser here: such objects stay
 *   with the restoring role, and the report says so.
 */

/** The ordinary role a drill restores and verifies as. */
export const RESTORING_ROLE = 'pgproof_restore';

/** A role attribute no role of a backup keeps on the scratch server. */
const POWERFUL_ATTRIBUTES = 'NOSUPERUSER NOREPLICATION';

/**
 * Takes superuser and replication away from roles globals.sql created on the scratch server: a role
 * that was a superuser at the source is an ordinary one here, so that nothing the archive owns runs with
 * power. Returns the roles changed.
 */
export async function demoteRoles(superuser: pg.Client, createdRoles: readonly string[]): Promise<string[]> {
  if (createdRoles.length === 0) return [];
  const { rows } = await superuser.query<{ rolname: string }>(
    'SELECT rolname FROM pg_roles WHERE rolname = ANY($1) AND (rolsuper OR rolreplication) ORDER BY rolname',
    [createdRoles],
  );
  for (const { rolname } of rows)
    await superuser.query(`ALTER ROLE ${quoteIdent(rolname)} ${POWERFUL_ATTRIBUTES}`);
  return rows.map((r) => r.rolname);
}

/** How the restoring role logs in. */
export interface RestoringLogin {
  readonly user: string;
  /** New for each restore; handed to pg_restore through its environment, never its arguments. */
  readonly password: string;
}

/**
 * Creates the restoring role (or takes back the one an earlier drill on this server left), makes it the
 * owner of the target database and a member of every role of the server that is not a superuser nor
 * one of PostgreSQL's own (`pg_*`): the archive's roles, so that grants and `ALTER DEFAULT PRIVILEGES FOR
 * ROLE` restore. BYPASSRLS lets it count every row of a table whose owner is subject to its own policies.
 */
export async function prepareRestoringRole(superuser: pg.Client, database: string): Promise<RestoringLogin> {
  const password = randomBytes(24).toString('hex');
  const role = quoteIdent(RESTORING_ROLE);
  const { rows } = await superuser.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = $1',
    [RESTORING_ROLE],
  );
  if (rows[0]?.rolsuper) {
    throw new ConfigError(
      `the scratch server's role "${RESTORING_ROLE}" is a superuser; drills restore as an ordinary role of that name: drop it or use a fresh scratch server`,
    );
  }
  const attributes = `LOGIN INHERIT BYPASSRLS NOCREATEROLE NOCREATEDB ${POWERFUL_ATTRIBUTES} PASSWORD '${password}'`;
  await superuser.query(
    rows.length === 0 ? `CREATE ROLE ${role} ${attributes}` : `ALTER ROLE ${role} ${attributes}`,
  );
  const members = await superuser.query<{ rolname: string }>(
    `SELECT rolname FROM pg_roles
     WHERE NOT rolsuper AND rolname !~ '^pg_' AND rolname <> $1
       AND NOT pg_has_role($1, oid, 'MEMBER') AND NOT pg_has_role(oid, $1, 'MEMBER')
     ORDER BY rolname`,
    [RESTORING_ROLE],
  );
  for (const { rolname } of members.rows) await superuser.query(`GRANT ${quoteIdent(rolname)} TO ${role}`);
  await superuser.query(`ALTER DATABASE ${quoteIdent(database)} OWNER TO ${role}`);
  return { user: RESTORING_ROLE, password };
}

/** An extension the archive creates, and the schema it goes in. */
export interface ArchiveExtension {
  readonly name: string;
  readonly schema: string;
}

/** One `ALTER <kind> <object> OWNER TO <role>;` of the archive, checked to have that shape and no other. */
export interface OwnerStatement {
  readonly sql: string;
  readonly owner: string;
}

/** What the superuser does around the restore, read from the archive. */
export interface PrivilegedSteps {
  readonly extensions: readonly ArchiveExtension[];
  readonly owners: readonly OwnerStatement[];
  /** The `--use-list` file of the restore: the archive without its extensions and the schemas made for them. */
  readonly restoreList: string;
  /** Schemas the superuser creates for extensions, their archive entries left out of the restore. */
  readonly schemas: readonly string[];
}

const QUALIFIED = String.raw`${IDENT}(?:\.${IDENT})?`;
/** A routine's or operator's argument types: names, quoted names, dots, commas, spaces, `[]`, `*`. */
const ARGUMENTS = String.raw`\((?:"(?:[^"]|"")*"|[A-Za-z0-9_$ .,\[\]*])*\)`;
const OPERATOR = String.raw`(?:${IDENT}\.)?[+\-*/<>=~!@#%^&|\x60?]+ ${ARGUMENTS}`;
/** Every shape of object name pg_restore writes in an owner statement, by kind. */
const OWNED_OBJECT = [
  `(?:TABLE|SEQUENCE|VIEW|MATERIALIZED VIEW|FOREIGN TABLE|SCHEMA|TYPE|DOMAIN|COLLATION|CONVERSION|TEXT SEARCH DICTIONARY|TEXT SEARCH CONFIGURATION|STATISTICS|PUBLICATION|SERVER|FOREIGN DATA WRAPPER|EVENT TRIGGER|LANGUAGE|PROCEDURAL LANGUAGE) ${QUALIFIED}`,
  `(?:FUNCTION|PROCEDURE|AGGREGATE) ${QUALIFIED}${ARGUMENTS}`,
  `OPERATOR ${OPERATOR}`,
  `OPERATOR (?:CLASS|FAMILY) ${QUALIFIED} USING ${IDENT}`,
  String.raw`LARGE OBJECT \d+`,
];
const OWNER_STATEMENT = new RegExp(`^ALTER (?:${OWNED_OBJECT.join('|')}) OWNER TO (${IDENT});$`);
const CREATE_EXTENSION = new RegExp(`^CREATE EXTENSION IF NOT EXISTS (${IDENT}) WITH SCHEMA (${IDENT});$`);

/** What a listing's line says of its entry (`TABLE DATA public orders app`), '' for a comment. */
function entryKind(line: string): string {
  return parseTocLine(line)?.description ?? '';
}

/** Data entries: left out of the script the privileged steps are read from. */
const DATA_ENTRY = /^(TABLE DATA|BLOBS|SEQUENCE SET|MATERIALIZED VIEW DATA) /;

/**
 * Reads from the archive what the superuser must do around the restore: its extensions and its owner
 * statements, from the script pg_restore writes for the archive's definitions (no data). Lines of the
 * script are taken only when they have exactly the shape pg_restore gives them; the guards in
 * {@link createExtensions} and {@link giveOwnership} hold for a line a function's body could fake.
 */
export async function readPrivilegedSteps(
  pgRestore: string,
  dumpPath: string,
  work: string,
  selection: Pick<PgRestoreSelection, 'tables' | 'schemas'>,
): Promise<PrivilegedSteps> {
  const listing = (await archiveListing(pgRestore, dumpPath)).split('\n');
  const definitionsList = join(work, 'definitions.list');
  await writeFile(
    definitionsList,
    listing.map((line) => (DATA_ENTRY.test(entryKind(line)) ? `;${line}` : line)).join('\n'),
  );
  const script = (await archiveScript(pgRestore, dumpPath, definitionsList, selection)).split('\n');

  const listed = new Set(
    listing.map((line) => /^EXTENSION - (\S+) /.exec(entryKind(line))?.[1]).filter((n) => n !== undefined),
  );
  const extensions: ArchiveExtension[] = [];
  const owners: OwnerStatement[] = [];
  for (const line of script) {
    const extension = CREATE_EXTENSION.exec(line);
    if (extension?.[1] && extension[2] && listed.has(unquote(extension[1]))) {
      extensions.push({ name: unquote(extension[1]), schema: unquote(extension[2]) });
    }
    const owner = OWNER_STATEMENT.exec(line);
    if (owner?.[1]) owners.push({ sql: line, owner: unquote(owner[1]) });
  }
  const schemas = [...new Set(extensions.map((e) => e.schema))];
  const leftOut = (line: string) => {
    const kind = entryKind(line);
    return (
      /^EXTENSION - /.test(kind) ||
      /^COMMENT - EXTENSION /.test(kind) ||
      schemas.some((schema) => kind.startsWith(`SCHEMA - ${schema} `))
    );
  };
  const restoreList = join(work, 'restore.list');
  await writeFile(restoreList, listing.map((line) => (leftOut(line) ? `;${line}` : line)).join('\n'));
  return { extensions, owners, restoreList, schemas };
}

/**
 * Creates the archive's extensions as the superuser, from the scratch server's own extension files,
 * and the schemas they go in (owned by the restoring role until ownership is given). An extension the
 * server does not have fails here, before any restore, naming it.
 */
export async function createExtensions(superuser: pg.Client, steps: PrivilegedSteps): Promise<void> {
  const { rows } = await superuser.query<{ name: string }>('SELECT name FROM pg_available_extensions');
  const available = new Set(rows.map((r) => r.name));
  const missing = steps.extensions.filter((e) => !available.has(e.name)).map((e) => e.name);
  if (missing.length > 0) {
    throw new ConfigError(
      `the scratch server lacks the extension(s) ${missing.join(', ')} this backup uses: give the drill a scratch server image that has them`,
    );
  }
  const existing = await superuser.query<{ nspname: string }>(
    'SELECT nspname FROM pg_namespace WHERE nspname = ANY($1)',
    [steps.schemas],
  );
  const have = new Set(existing.rows.map((r) => r.nspname));
  for (const schema of steps.schemas) {
    if (!have.has(schema)) {
      await superuser.query(
        `CREATE SCHEMA ${quoteIdent(schema)} AUTHORIZATION ${quoteIdent(RESTORING_ROLE)}`,
      );
    }
  }
  for (const { name, schema } of steps.extensions) {
    await superuser.query(
      `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(name)} WITH SCHEMA ${quoteIdent(schema)}`,
    );
  }
}

/** How giving ownership went. */
export interface Ownership {
  /** Owner statements run. */
  readonly given: number;
  /** Objects left with the restoring role because their owner is a superuser here, by owner. */
  readonly keptFromSuperusers: ReadonlyMap<string, number>;
  readonly errors: readonly ReportedError[];
}

/**
 * Gives each restored object to its owner, as the superuser. Each statement has the fixed shape
 * {@link readPrivilegedSteps} checked and is sent alone with the extended protocol, which refuses a second
 * statement; none names a role that is a superuser here, so nothing the archive defines (an index
 * expression, a view) ever runs as one when its owner uses it.
 */
export async function giveOwnership(
  superuser: pg.Client,
  owners: readonly OwnerStatement[],
): Promise<Ownership> {
  const { rows } = await superuser.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolsuper');
  const superusers = new Set(rows.map((r) => r.rolname));
  const keptFromSuperusers = new Map<string, number>();
  const errors: ReportedError[] = [];
  let given = 0;
  for (const statement of owners) {
    if (superusers.has(statement.owner) || statement.owner === RESTORING_ROLE) {
      keptFromSuperusers.set(statement.owner, (keptFromSuperusers.get(statement.owner) ?? 0) + 1);
      continue;
    }
    try {
      await runAlone(superuser, statement.sql);
      given++;
    } catch (error) {
      errors.push({
        step: 'restore',
        message: error instanceof Error ? error.message : String(error),
        sqlState: (error as { code?: string }).code,
        command: statement.sql,
        entry: 'ownership',
      });
    }
  }
  return { given, keptFromSuperusers, errors };
}
