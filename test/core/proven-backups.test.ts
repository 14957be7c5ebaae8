import { describe, expect, it } from 'vitest';
import { classifyTier } from '../../core/classify-tier.ts';
import { backupKeys, formatBackupId } from '../../core/layout.ts';
import {
  backupObjects,
  emptyProvenIndex,
  type HeldObject,
  heldBackups,
  type JudgedDrill,
  type ProvenIndex,
  type ProvenPlan,
  parseProvenIndex,
  planProvenBackups,
  provenIndexKey,
  serializeProvenIndex,
} from '../../core/proven-backups.ts';
import { TIERS, type Tier } from '../../core/retention-tiers.ts';

/** Every object of a backup of `orders`, each at a version named after it. */
function objectsOf(backupId: string): HeldObject[] {
  const keys = backupKeys('', 'orders', backupId);
  return [keys.dump, keys.globals, keys.manifest].map((key) => ({ key, versionId: `v-${key}` }));
}

function drill(backupId: string, tier: Tier, change: Partial<JudgedDrill> = {}): JudgedDrill {
  return {
    database: 'orders',
    backupId,
    tier,
    mode: 'drill',
    passed: true,
    objects: objectsOf(backupId),
    provenAt: '2026-11-22T03:00:00.000Z',
    reportKey: `drills/orders/${backupId}/20261122T030000Z.json`,
    ...change,
  };
}

/** The bucket as far as legal holds go: the versions held, and the index object. */
class SimulatedBucket {
  readonly holds = new Set<string>();
  index: ProvenIndex | undefined;

  /** Applies a plan in the function's order, stopping after `stopAfter` steps (a crash) when given. */
  apply(plan: ProvenPlan, stopAfter = 4): void {
    const steps = [
      () => {
        if (plan.intent) this.index = parseProvenIndex(serializeProvenIndex(plan.intent), 'index');
      },
      () => {
        for (const o of plan.hold) this.holds.add(`${o.key}@${o.versionId}`);
      },
      () => {
        for (const o of plan.release) this.holds.delete(`${o.key}@${o.versionId}`);
      },
      () => {
        if (plan.final) this.index = parseProvenIndex(serializeProvenIndex(plan.final), 'index');
      },
    ];
    for (const step of steps.slice(0, stopAfter)) step();
  }

  /** The backups with at least one held version. */
  heldBackupIds(): Set<string> {
    return new Set([...this.holds].map((h) => h.split('/')[1] ?? ''));
  }
}

describe('proven index', () => {
  it('lives beside the database folder, where no backup key and no drill report can be', () => {
    expect(provenIndexKey('', 'orders')).toBe('orders.proven.json');
    expect(provenIndexKey('prod/', 'orders')).toBe('prod/orders.proven.json');
  });

  it('rejects an index that is not what pgproof writes, naming the key and the field', () => {
    expect(() => parseProvenIndex('{', 'orders.proven.json')).toThrow(
      'the proven index orders.proven.json is not valid JSON; restore its previous version',
    );
    const bad = { formatVersion: 1, database: 'orders', tiers: { daily: [{ backupId: 'x' }] } };
    expect(() => parseProvenIndex(JSON.stringify(bad), 'orders.proven.json')).toThrow(
      /^the proven index orders.proven.json is invalid at tiers.daily.0.backupId: /,
    );
  });
});

describe('backupObjects', () => {
  const keys = backupKeys('', 'orders', '20261121T020000Z');

  it('names the dump, globals.sql and the manifest at their versions', () => {
    const manifest = {
      dump: { key: keys.dump, versionId: 'd1' },
      globals: { key: keys.globals, versionId: 'g1' },
    };
    expect(backupObjects(manifest, keys.manifest, 'm1')).toEqual([
      { key: keys.dump, versionId: 'd1' },
      { key: keys.globals, versionId: 'g1' },
      { key: keys.manifest, versionId: 'm1' },
    ]);
  });

  it('names every segment of a dump stored as several objects, and no globals when there are none', () => {
    const manifest = {
      dump: {
        key: keys.dump,
        versionId: 'd0',
        segments: [
          { key: keys.dump, versionId: 'd0' },
          { key: `${keys.dump}.00001`, versionId: 'd1' },
          { key: `${keys.dump}.00002` },
        ],
      },
      globals: null,
    };
    expect(backupObjects(manifest, keys.manifest, 'm1')).toEqual([
      { key: keys.dump, versionId: 'd0' },
      { key: `${keys.dump}.00001`, versionId: 'd1' },
      { key: `${keys.dump}.00002`, versionId: undefined },
      { key: keys.manifest, versionId: 'm1' },
    ]);
  });

  it('names every data stream of a dump taken in parallel, each segment of one stored as several', () => {
    const stream = (n: number) => `${keys.folder}data-${n}.pgdump`;
    const manifest = {
      dump: {
        key: keys.dump,
        versionId: 'd0',
        streams: [
          { key: stream(1), versionId: 's1' },
          {
            key: stream(2),
            versionId: 's2',
            segments: [
              { key: stream(2), versionId: 's2' },
              { key: `${stream(2)}.00001`, versionId: 's2b' },
            ],
          },
        ],
      },
      globals: { key: keys.globals, versionId: 'g1' },
    };
    expect(backupObjects(manifest, keys.manifest, 'm1')).toEqual([
      { key: keys.dump, versionId: 'd0' },
      { key: stream(1), versionId: 's1' },
      { key: stream(2), versionId: 's2' },
      { key: `${stream(2)}.00001`, versionId: 's2b' },
      { key: keys.globals, versionId: 'g1' },
      { key: keys.manifest, versionId: 'm1' },
    ]);
  });
});

describe('planProvenBackups', () => {
  const older = '20261114T020000Z';
  const newer = '20261121T020000Z';

  it('keeps the first passing backup of a tier: listed first, then held', () => {
    const plan = planProvenBackups(drill(newer, 'daily'), undefined);
    expect(plan).toMatchObject({ outcome: 'kept', tier: 'daily', proven: newer, release: [], released: [] });
    expect(plan.hold).toEqual(objectsOf(newer));
    expect(heldBackups(plan.intent)).toEqual({ daily: [newer] });
    expect(heldBackups(plan.final)).toEqual({ daily: [newer] });
  });

  it('holds a newer passing backup before it releases the older one of its tier, and touches no other tier', () => {
    const bucket = new SimulatedBucket();
    bucket.apply(planProvenBackups(drill(older, 'daily'), undefined));
    bucket.apply(planProvenBackups(drill('20261102T020000Z', 'monthly'), bucket.index));
    const plan = planProvenBackups(drill(newer, 'daily'), bucket.index);
    expect(plan).toMatchObject({ outcome: 'kept', proven: newer, released: [older] });
    expect(plan.release).toEqual(objectsOf(older));
    // The intent lists both: a crash after the hold leaves both held and both listed.
    expect(heldBackups(plan.intent)).toEqual({ daily: [older, newer], monthly: ['20261102T020000Z'] });
    expect(heldBackups(plan.final)).toEqual({ daily: [newer], monthly: ['20261102T020000Z'] });
  });

  it('does not release a newer proven backup when an older backup of its tier passes', () => {
    const bucket = new SimulatedBucket();
    bucket.apply(planProvenBackups(drill(newer, 'weekly'), undefined));
    const plan = planProvenBackups(drill(older, 'weekly'), bucket.index);
    expect(plan).toMatchObject({ outcome: 'older', proven: newer, hold: [], release: [] });
    expect(plan.intent).toBeUndefined();
    expect(plan.final).toBeUndefined();
  });

  it('changes nothing for the proven backup drilled again, a failed drill or a restore', () => {
    const bucket = new SimulatedBucket();
    bucket.apply(planProvenBackups(drill(older, 'daily'), undefined));
    for (const again of [
      drill(older, 'daily'),
      drill(newer, 'daily', { passed: false }),
      drill(newer, 'daily', { mode: 'restore' }),
    ]) {
      const plan = planProvenBackups(again, bucket.index);
      expect(plan).toMatchObject({
        proven: older,
        hold: [],
        release: [],
        intent: undefined,
        final: undefined,
      });
    }
    expect(planProvenBackups(drill(newer, 'daily', { passed: false }), undefined)).toMatchObject({
      outcome: 'not-proven',
      proven: undefined,
      hold: [],
    });
  });

  it('finishes an update that was cut short at the next passing drill of the tier, whichever backup it drills', () => {
    const bucket = new SimulatedBucket();
    bucket.apply(planProvenBackups(drill(older, 'daily'), undefined));
    // Listed and held, then the function died before the release.
    bucket.apply(planProvenBackups(drill(newer, 'daily'), bucket.index), 2);
    expect(bucket.heldBackupIds()).toEqual(new Set([older, newer]));
    const plan = planProvenBackups(drill('20261110T020000Z', 'daily'), bucket.index);
    expect(plan).toMatchObject({ outcome: 'older', proven: newer, released: [older] });
    bucket.apply(plan);
    expect(bucket.heldBackupIds()).toEqual(new Set([newer]));
    expect(heldBackups(bucket.index)).toEqual({ daily: [newer] });
  });

  it("rejects another database's index", () => {
    expect(() => planProvenBackups(drill(newer, 'daily'), emptyProvenIndex('billing'))).toThrow(
      'the proven index of "billing" was given for a drill of "orders": each database has its own',
    );
  });
});

/** Days each tier is kept by rotation: the config's defaults (7 daily, 5 weekly, 12 monthly, 7 yearly). */
const RETENTION_DAYS: Record<Tier, number> = { daily: 7, weekly: 35, monthly: 372, yearly: 2562 };
const DAY = 86_400_000;

describe('a year of daily backups and drills', () => {
  it('holds exactly the newest passing backup of each tier at every step, and nothing else, ever', () => {
    const start = Date.parse('2026-07-01T02:00:00Z');
    const backups: { id: string; at: Date; tier: Tier }[] = [];
    const bucket = new SimulatedBucket();
    /** The newest backup of each tier that passed a drill: what must be held. */
    const newestPassed = new Map<Tier, string>();
    /** Backups rotation has expired (nothing held them on their expiry day). */
    const expired = new Set<string>();
    const counts = { drills: 0, passed: 0, failed: 0, restores: 0, olderDrills: 0, crashes: 0 };
    let keptDaily = 0;

    for (let day = 0; day < 365; day++) {
      const at = new Date(start + day * DAY);
      const tier = classifyTier(
        at,
        'Europe/Berlin',
        backups.map((b) => b.at),
      );
      const id = formatBackupId(at);
      backups.push({ id, at, tier });

      // Drills: every Monday and Thursday the newest backup; on the 3rd the month's monthly backup; every
      // fifth Thursday a backup two weeks old (older than the daily already proven).
      const weekday = at.getUTCDay();
      const drilled: string[] = [];
      if (weekday === 1 || weekday === 4) drilled.push(id);
      if (at.getUTCDate() === 3) {
        const monthly = backups.findLast((b) => b.tier === 'monthly' || b.tier === 'yearly');
        if (monthly) drilled.push(monthly.id);
      }
      if (weekday === 4 && day % 2 === 0 && backups.length > 5) drilled.push(backups.at(-6)?.id ?? id);

      for (const drilledId of drilled) {
        const backup = backups.find((b) => b.id === drilledId);
        if (!backup || expired.has(drilledId)) continue;
        counts.drills++;
        // Every fourth drill fails, every seventh is a restore into a real database.
        const passed = counts.drills % 4 !== 0;
        const mode = counts.drills % 7 === 0 ? 'restore' : 'drill';
        const judged = drill(drilledId, backup.tier, { passed, mode });
        const before = newestPassed.get(backup.tier);
        const plan = planProvenBackups(judged, bucket.index);
        if (passed && mode === 'drill') {
          counts.passed++;
          if (before !== undefined && drilledId < before) counts.olderDrills++;
          if (before === undefined || drilledId > before) newestPassed.set(backup.tier, drilledId);
        } else if (mode === 'restore') counts.restores++;
        else counts.failed++;
        // Every fifth update that keeps a new daily backup dies after the hold, before the release (not in
        // the last month, so that a later drill of the tier finishes each before the end).
        if (plan.outcome === 'kept' && backup.tier === 'daily') keptDaily++;
        const crash = plan.outcome === 'kept' && backup.tier === 'daily' && keptDaily % 5 === 0 && day < 335;
        if (crash) counts.crashes++;
        bucket.apply(plan, crash ? 2 : 4);

        // Never an object held that the index does not list: the release can always find it.
        const listed = new Set(
          Object.values(bucket.index?.tiers ?? {}).flatMap((l) => l.flatMap((b) => b.objects)),
        );
        for (const hold of bucket.holds) {
          expect([...listed].some((o) => `${o.key}@${o.versionId}` === hold)).toBe(true);
        }
        // The newest passing backup of every tier is held, each of its objects.
        for (const [t, proven] of newestPassed) {
          for (const o of objectsOf(proven))
            expect(bucket.holds.has(`${o.key}@${o.versionId}`), t).toBe(true);
        }
        if (!crash) {
          // Nothing else is held: no backup after a newer one of its tier passed, once an update completes
          // (a crash leaves the old one held and listed until the next update of the tier).
          const pending = Object.values(bucket.index?.tiers ?? {}).some((l) => l.length > 1);
          if (!pending) expect(bucket.heldBackupIds()).toEqual(new Set(newestPassed.values()));
        }
      }

      // Rotation: a backup past its tier's retention expires unless a hold keeps it.
      for (const b of backups) {
        const age = (at.getTime() - b.at.getTime()) / DAY;
        if (age >= RETENTION_DAYS[b.tier] && !bucket.heldBackupIds().has(b.id)) expired.add(b.id);
      }
      for (const proven of newestPassed.values()) expect(expired.has(proven)).toBe(false);
    }

    const byTier = (ids: Iterable<string>) =>
      Object.fromEntries(
        TIERS.map((t) => [t, [...ids].filter((id) => backups.find((b) => b.id === id)?.tier === t).length]),
      );
    // What was walked through, in figures.
    expect(backups.length).toBe(365);
    expect(byTier(backups.map((b) => b.id))).toEqual({ daily: 303, weekly: 50, monthly: 10, yearly: 2 });
    expect(counts).toEqual({ drills: 142, passed: 92, failed: 30, restores: 20, olderDrills: 8, crashes: 7 });
    // At the end: at most one held backup per tier, exactly the newest that passed; the index says so too.
    expect(bucket.heldBackupIds()).toEqual(new Set(newestPassed.values()));
    expect(byTier(bucket.heldBackupIds())).toEqual({ daily: 1, weekly: 1, monthly: 1, yearly: 1 });
    expect(heldBackups(bucket.index)).toEqual(
      Object.fromEntries([...newestPassed].map(([t, id]) => [t, [id]]).sort()),
    );
    // Every backup past its retention is gone, except the held ones: nothing is kept forever by accident.
    const end = start + 364 * DAY;
    const overdue = backups.filter((b) => (end - b.at.getTime()) / DAY >= RETENTION_DAYS[b.tier]);
    expect(overdue.filter((b) => !expired.has(b.id)).map((b) => b.id)).toEqual(
      overdue.filter((b) => bucket.heldBackupIds().has(b.id)).map((b) => b.id),
    );
  });
});
