import type { ClientBase } from 'pg';
import {
  invalidIndexes,
  readInventory,
  type SequenceBehind,
  sequencesBehindTheirColumns,
} from '../../core/catalog-inventory.ts';
import type { RestoreCheck } from '../../core/drill-report.ts';
import type { Inventory, OwnedObject, SequenceState } from '../../core/inventory.ts';

/**
 * The restored copy compared with the source's inventory (core/inventory.ts), each part its own named
 * check with a detail a person reads: sequences, large objects, materialized views, constraints, indexes,
 * owners and privileges, extensions and the objects of each kind per schema. What the restored copy has
 * more of is not a loss (a newer server makes objects of its own: multirange types, not-null constraints);
 * what it lacks or has different is.
 */

/** At most this many problems are named in a check's detail; the rest are counted. */
const NAMED = 5;

/** Who may own what after the restore (an owner the restoring user could not give an object to). */
export interface OwnershipContext {
  /** The user that restored: it owns what it could not give away. */
  readonly restoringUser: string;
  /** Roles the restoring user could not give objects to: superusers of the target, roles it is not a member of. */
  readonly ungivable: ReadonlySet<string>;
  /** Major versions of the source and the target: the `public` schema's defaults changed in 15. */
  readonly sourceMajor: number;
  readonly targetMajor: number;
}

/** Reads what {@link compareInventory} needs of the restored copy, on one connection. */
export async function readRestoredInventory(client: ClientBase): Promise<{
  inventory: Inventory;
  behind: SequenceBehind[];
  invalid: string[];
  ungivable: Set<string>;
}> {
  // The default search_path stays: counting a materialized view plans it, which inlines the SQL functions
  // of its index expressions, and those may name tables unqualified.
  await client.query('BEGIN READ ONLY');
  try {
    const inventory = await readInventory(client);
    const behind = await sequencesBehindTheirColumns(client);
    const invalid = await invalidIndexes(client);
    const { rows } = await client.query<{ rolname: string }>(
      `SELECT rolname FROM pg_roles WHERE rolsuper OR NOT pg_has_role(current_user, oid, 'MEMBER')`,
    );
    return { inventory, behind, invalid, ungivable: new Set(rows.map((r) => r.rolname)) };
  } finally {
    await client.query('COMMIT');
  }
}

/** One check from its problems: passed when there are none. */
function check(name: string, problems: readonly string[], passedDetail: string): RestoreCheck {
  if (problems.length === 0) return { name, kind: 'inventory', passed: true, detail: passedDetail };
  const more = problems.length > NAMED ? `; and ${problems.length - NAMED} more` : '';
  return { name, kind: 'inventory', passed: false, detail: `${problems.slice(0, NAMED).join('; ')}${more}` };
}

const qualified = (o: { schema: string; name: string }) => (o.schema ? `${o.schema}.${o.name}` : o.name);

/** Every check of the inventory; `behind` and `invalid` hold without the source's inventory. */
export function compareInventory(
  source: Inventory | undefined,
  restored: {
    readonly inventory: Inventory;
    readonly behind: readonly SequenceBehind[];
    readonly invalid: readonly string[];
  },
  context: OwnershipContext,
): RestoreCheck[] {
  const checks: RestoreCheck[] = [];
  const behind = restored.behind.map(
    (b) =>
      `${b.sequence} would next give ${b.nextValue}, not beyond ${b.column}'s maximum ${b.maximum}: the first insert would collide`,
  );
  if (source) checks.push(sequencesCheck(source, restored.inventory, behind));
  else checks.push(check('sequences', behind, 'no sequence behind the column it numbers'));
  checks.push(
    check(
      'indexes',
      restored.invalid.map((i) => `${i} is invalid`),
      'every index valid',
    ),
  );
  if (!source) return checks;
  const copy = restored.inventory;
  checks.push(largeObjectsCheck(source, copy, context));
  checks.push(materializedViewsCheck(source, copy));
  checks.push(constraintsCheck(source, copy));
  checks.push(ownersCheck(source, copy, context));
  checks.push(extensionsCheck(source, copy));
  checks.push(objectCountsCheck(source, copy));
  return checks;
}

function sequencesCheck(source: Inventory, copy: Inventory, behind: readonly string[]): RestoreCheck {
  const restored = new Map(copy.sequences.map((s) => [qualified(s), s]));
  const state = (s: { lastValue: string; isCalled: boolean }) =>
    `${s.lastValue}${s.isCalled ? '' : ' (not yet called)'}`;
  // The next value each would give: the source's was read as the dump began, and a busy database's
  // dump may hold a later one, never an earlier one.
  const next = (s: SequenceState) => BigInt(s.lastValue) + (s.isCalled ? (s.ascending ? 1n : -1n) : 0n);
  const problems = source.sequences.flatMap((s) => {
    const r = restored.get(qualified(s));
    if (!r) return [`${qualified(s)} is missing`];
    const behindSource = s.ascending ? next(r) < next(s) : next(r) > next(s);
    return behindSource ? [`${qualified(s)} is at ${state(r)}, the source was at ${state(s)}`] : [];
  });
  return check(
    'sequences',
    [...problems, ...behind],
    `${source.sequences.length} sequence(s) where the source left them; none behind the column it numbers`,
  );
}

/** An owner as expected after the restore: the source's, or the restoring user's where it could not give. */
function ownerMatches(
  sourceOwner: string,
  restoredOwner: string,
  context: OwnershipContext,
): 'same' | 'kept' | 'different' {
  if (sourceOwner === restoredOwner) return 'same';
  if (restoredOwner === context.restoringUser && context.ungivable.has(sourceOwner)) return 'kept';
  return 'different';
}

/** An ACL item's grantee and grantor renamed, as ALTER ... OWNER renames the owner's items. */
function renameInAcl(acl: readonly string[] | null, from: string, to: string): string[] | null {
  if (!acl) return acl;
  const name = (role: string) => (role === from || role === `"${from.replaceAll('"', '""')}"` ? to : role);
  return acl
    .map((item) => {
      const m = /^((?:"(?:[^"]|"")*"|[^=]*))=([^/]*)\/(.*)$/.exec(item);
      return m ? `${name(m[1] ?? '')}=${m[2]}/${name(m[3] ?? '')}` : item;
    })
    .sort();
}

/** Relation kinds, whose privileges gained MAINTAIN in PostgreSQL 17. */
const RELATION_KINDS = new Set(['table', 'view', 'materialized view', 'sequence', 'foreign table']);

/** An ACL without the MAINTAIN privilege (`m`, and `m*` with grant option). */
function withoutMaintain(acl: readonly string[] | null): string[] | null {
  if (!acl) return null;
  return acl.map((item) =>
    item.replace(/=([^/]*)\//, (_, privileges: string) => `=${privileges.replace(/m\*?/g, '')}/`),
  );
}

const aclText = (acl: readonly string[] | null) => (acl ? `{${acl.join(',')}}` : 'default privileges');

function largeObjectsCheck(source: Inventory, copy: Inventory, context: OwnershipContext): RestoreCheck {
  const s = source.largeObjects;
  const r = copy.largeObjects;
  const problems: string[] = [];
  if (r.count !== s.count) problems.push(`${r.count} large object(s) restored, ${s.count} in the source`);
  else if (r.hash !== s.hash) problems.push(`the large objects' contents differ from the source's`);
  const owners = (list: Inventory['largeObjects']['owners'], map: (owner: string) => string) =>
    list
      .map((o) => `${map(o.owner)} ${aclText(renameInAcl(o.acl, o.owner, map(o.owner)))} ×${o.count}`)
      .sort()
      .join(', ');
  const expectedOwner = (owner: string) =>
    context.ungivable.has(owner) && !r.owners.some((o) => o.owner === owner) ? context.restoringUser : owner;
  const expected = owners(s.owners, expectedOwner);
  const found = owners(r.owners, (o) => o);
  if (expected !== found)
    problems.push(`large objects' owners and privileges: ${found || 'none'}, expected ${expected}`);
  return check(
    'large objects',
    problems,
    `${s.count} large object(s), contents, owners and privileges as in the source`,
  );
}

function materializedViewsCheck(source: Inventory, copy: Inventory): RestoreCheck {
  const restored = new Map(copy.materializedViews.map((v) => [qualified(v), v]));
  const problems = source.materializedViews.flatMap((v) => {
    const r = restored.get(qualified(v));
    if (!r) return [`${qualified(v)} is missing`];
    if (r.populated !== v.populated) {
      return [
        `${qualified(v)} is ${r.populated ? 'populated' : 'not populated'}, in the source ${v.populated ? 'populated' : 'not'}`,
      ];
    }
    if (r.rows !== v.rows) return [`${qualified(v)} has ${r.rows} rows, the source ${v.rows}`];
    return [];
  });
  return check(
    'materialized views',
    problems,
    `${source.materializedViews.length} materialized view(s) populated as in the source, with its row counts`,
  );
}

const CONSTRAINT_TYPES: Record<string, string> = {
  c: 'check',
  f: 'foreign key',
  p: 'primary key',
  u: 'unique',
  x: 'exclusion',
  n: 'not-null',
  t: 'trigger',
};

function constraintsCheck(source: Inventory, copy: Inventory): RestoreCheck {
  const key = (c: { schema: string; table: string; name: string }) => `${c.schema}.${c.table}.${c.name}`;
  const restored = new Map(copy.constraints.map((c) => [key(c), c]));
  const problems = source.constraints.flatMap((c) => {
    const r = restored.get(key(c));
    const what = `${CONSTRAINT_TYPES[c.type] ?? c.type} constraint ${c.name} of ${c.schema}.${c.table}`;
    if (!r) return [`${what} is missing`];
    if (c.validated && !r.validated) return [`${what} is NOT VALID, validated in the source`];
    return [];
  });
  const validated = source.constraints.filter((c) => c.validated).length;
  return check(
    'constraints',
    problems,
    `${source.constraints.length} constraint(s) restored; the ${validated} validated in the source are validated`,
  );
}

function ownersCheck(source: Inventory, copy: Inventory, context: OwnershipContext): RestoreCheck {
  const key = (o: OwnedObject) => `${o.kind} ${qualified(o)}`;
  const restored = new Map(copy.owners.map((o) => [key(o), o]));
  // The public schema's owner and privileges are the server's defaults, which changed in 15; pg_dump
  // writes them only when they differ from the source server's defaults.
  const crossesPublicDefaults = context.sourceMajor >= 15 !== context.targetMajor >= 15;
  // PostgreSQL 17 added MAINTAIN (m) to a relation's privileges: an owner's or a grant of ALL gains it.
  const gainsMaintain = context.sourceMajor < 17 && context.targetMajor >= 17;
  let kept = 0;
  const problems = source.owners.flatMap((o) => {
    if (crossesPublicDefaults && o.kind === 'schema' && o.name === 'public') return [];
    const r = restored.get(key(o));
    if (!r) return [`${key(o)} is missing`];
    const owner = ownerMatches(o.owner, r.owner, context);
    if (owner === 'different') return [`${key(o)} is owned by ${r.owner}, in the source by ${o.owner}`];
    const expectedAcl = owner === 'kept' ? renameInAcl(o.acl, o.owner, r.owner) : o.acl;
    if (owner === 'kept') kept++;
    const restoredAcl = gainsMaintain && RELATION_KINDS.has(o.kind) ? withoutMaintain(r.acl) : r.acl;
    if (aclText(expectedAcl) !== aclText(restoredAcl && [...restoredAcl].sort())) {
      return [`${key(o)} has privileges ${aclText(r.acl)}, the source ${aclText(o.acl)}`];
    }
    return [];
  });
  const keptDetail = kept
    ? `; ${kept} kept by ${context.restoringUser}, which could not give them to their owner`
    : '';
  return check(
    'owners and privileges',
    problems,
    `${source.owners.length} schema(s), relation(s) and routine(s) with the source's owners and privileges${keptDetail}`,
  );
}

function extensionsCheck(source: Inventory, copy: Inventory): RestoreCheck {
  const restored = new Map(copy.extensions.map((e) => [e.name, e]));
  const problems: string[] = [];
  const newer: string[] = [];
  for (const e of source.extensions) {
    const r = restored.get(e.name);
    if (!r) problems.push(`extension ${e.name} ${e.version} is missing`);
    else if (r.schema !== e.schema)
      problems.push(`extension ${e.name} is in schema ${r.schema}, in the source ${e.schema}`);
    else if (r.version !== e.version) newer.push(`${e.name} ${r.version} (source ${e.version})`);
  }
  const versions = newer.length ? `; other versions here, reported not failed: ${newer.join(', ')}` : '';
  return check(
    'extensions',
    problems,
    `${source.extensions.length} extension(s) as in the source${versions}`,
  );
}

function objectCountsCheck(source: Inventory, copy: Inventory): RestoreCheck {
  const restored = new Map(copy.objectCounts.map((c) => [`${c.schema}\n${c.kind}`, c.count]));
  const problems = source.objectCounts.flatMap((c) => {
    const n = restored.get(`${c.schema}\n${c.kind}`) ?? 0;
    return n < c.count ? [`schema ${c.schema}: ${n} ${c.kind}(s) restored, ${c.count} in the source`] : [];
  });
  const total = source.objectCounts.reduce((sum, c) => sum + c.count, 0);
  return check('object counts', problems, `${total} object(s) of every kind in every schema, none missing`);
}
