import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Duration } from 'aws-cdk-lib';
import { SCRATCH_SUPERUSER } from '../cdk/constructs/drill-tasks.ts';
import { parseRestoreReport, type RestoreReport } from '../core/drill-report.ts';
import { ConfigError, oneLine } from '../core/errors.ts';
import { backupKeys, formatBackupId, MANIFEST_FILE } from '../core/layout.ts';
import { dumpTotalBytes, parseManifest } from '../core/manifest.ts';
import { clientVersion } from '../engines/backup/pg-tools.ts';
import {
  type DrillTaskHandlers,
  type DrillWorkflow,
  LOCAL_REGION,
  LOCAL_REPLICA_REGION,
  notificationSchema,
  restoreRunnerEnvironment,
  runDrillWorkflow,
  runRestoreRequestSchema,
  synthesizeDrDrillWorkflow,
  synthesizeDrillWorkflow,
} from '../local/drill-workflow.ts';
import { type PgCluster, startPostgres, systemBinDir } from '../local/postgres.ts';
import { lastLine, startProcess } from '../local/processes.ts';
import { type S3Server, startS3 } from '../local/s3-server.ts';
import { seedVariedDatabase } from '../local/sample-data.ts';
import { productionClientBinDir, toolchain } from '../local/toolchain.ts';
import { EXIT, type ExitCode } from './commands/exit-codes.ts';
import { formatBytes, type Output, processOutput } from './output.ts';
import { formatReport } from './report-view.ts';

/**
 * `pgproof demo` / `npm run demo`: the whole pipeline on this machine, no AWS account. A throwaway
 * PostgreSQL with a sample database, an S3-compatible server, a backup by the real backup runner, and
 * the real restore-drill state machine (synthesized from the CDK construct) executed locally: its
 * Lambda states run the real handlers, its ECS state runs the real restore runner against a second
 * throwaway server standing in for the drill's PostgreSQL sidecar. Then the DR drill: the backup copied
 * to a replica bucket on a second S3 server (replication), and the replica region's DR workflow
 * (synthesized from PgproofReplica) run over it the same way. Everything is removed at the end, also on
 * Ctrl-C.
 */

const DATABASE = 'shop';

/** The demo database's drill settings: an RTO and a check of the kind teams write. */
const DEMO_DRILL = {
  name: DATABASE,
  rto: Duration.minutes(5),
  checks: [
    {
      name: 'every order has its customer',
      sql: 'SELECT NOT EXISTS (SELECT 1 FROM sales.orders o LEFT JOIN public.customers c ON c.id = o.customer_id WHERE c.id IS NULL)',
    },
  ],
};

/** The PostgreSQL client the demo's runners use, and how to say which it is. */
interface DemoClient {
  /** `PG_BIN_DIR` for the runners; empty when the client on PATH is used. */
  readonly env: Record<string, string>;
  readonly description: string;
}

/**
 * The production client when scripts/postgres-client.sh has built it, else the one on PATH; fails early,
 * with the fix, when there is none.
 */
async function chooseClient(): Promise<DemoClient> {
  systemBinDir();
  const binDir = productionClientBinDir({ build: false });
  const at = (program: string) => (binDir ? join(binDir, program) : program);
  let version = '';
  for (const program of ['pg_dump', 'pg_restore']) {
    try {
      version = (await clientVersion(at(program))).version;
    } catch {
      throw new ConfigError(
        `${program} is not installed: install the PostgreSQL client (Debian: apt-get install postgresql-client), or build the production one with \`bash scripts/postgres-client.sh\``,
      );
    }
  }
  return binDir
    ? { env: { PG_BIN_DIR: binDir }, description: `PostgreSQL client ${version}, the one the image ships` }
    : {
        env: {},
        description: `PostgreSQL client ${version} from PATH (the image ships ${toolchain.postgresClientMajor}: \`bash scripts/postgres-client.sh\` builds it, and the demo then uses it)`,
      };
}

const SILENT_LAMBDA_ENV = { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' };

/** The replica bucket: on a second S3 server, as the replica region's S3 is another endpoint. */
const REPLICA_BUCKET = 'replica-backups';

/** Runs the demo; returns 0 when the restore drill and the DR drill both passed. */
export async function runDemo(output: Output = processOutput(false)): Promise<ExitCode> {
  const started = Date.now();
  const step = (text: string) =>
    output.err(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${text}`);
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  const onSignal = (signal: NodeJS.Signals) => {
    output.err(`\n${signal}: removing the demo's servers...`);
    void cleanUp().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const client = await chooseClient();
    step(client.description);
    step('starting PostgreSQL (the source), a scratch PostgreSQL (the drill sidecar) and an S3 server');
    // The scratch server's superuser is named as the drill task's sidecar names it, so that the sample's
    // own `postgres` role restores as an ordinary role, as in AWS.
    const [source, scratch, s3] = await Promise.all([
      startPostgres(),
      startPostgres({ superuser: SCRATCH_SUPERUSER }),
      startS3(),
    ]);
    cleanups.push(
      () => source.stop(),
      () => scratch.stop(),
      () => s3.stop(),
    );
    step(`PostgreSQL ${source.major} on ports ${source.port} and ${scratch.port}, S3 at ${s3.endpoint}`);

    await seedVariedDatabase(source, DATABASE, 20_000);
    step(
      `sample database "${DATABASE}": customers, orders, events, an audit log, an empty table, a second schema`,
    );

    const backupId = formatBackupId(new Date());
    const backup = await startProcess(process.execPath, ['--import', 'tsx', 'containers/pg-dump/main.ts'], {
      ...source.env(DATABASE),
      ...s3.env,
      ...client.env,
      BACKUP_ID: backupId,
      VERIFY: 'checksums',
    }).result;
    if (backup.code !== 0) throw new Error(`the backup failed: ${lastLine(backup.stderr)}`);
    const manifest = parseManifest(
      (await s3.get(backupKeys('', DATABASE, backupId).manifest)).toString(),
      'manifest.json',
    );
    step(
      `backup ${backupId}: ${formatBytes(dumpTotalBytes(manifest.dump))} (${manifest.dump.compression}), ` +
        `${manifest.tables.length} tables counted and hashed in the dump's snapshot, sha256 ${manifest.dump.sha256.slice(0, 12)}...`,
    );

    const workflow = synthesizeDrillWorkflow([DEMO_DRILL]);
    step('restore drill state machine synthesized from the CDK construct; running it locally');
    const drill = await runDrill({ workflow, region: LOCAL_REGION, s3 }, { scratch, client }, step);
    output.out('');
    if (drill.report) for (const line of formatReport(drill.report)) output.out(line);
    output.out('');
    step(drill.passed ? 'the backup restored and verified: it is a backup' : 'the drill FAILED');

    const dr = await runDrDrill({ s3, scratch, client, backupId }, step, cleanups);
    output.out(dr.line);
    if (!dr.passed && dr.report) for (const line of formatReport(dr.report)) output.out(line);
    output.out('');
    step(dr.passed ? 'the replica restored and verified in the DR region too' : 'the DR drill FAILED');
    return drill.passed && dr.passed ? EXIT.ok : EXIT.failed;
  } catch (error) {
    output.err(`pgproof demo: ${oneLine(error)}`);
    return EXIT.error;
  } finally {
    await cleanUp();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    step('servers stopped and removed');
  }
}

/**
 * The DR drill: the backup's objects copied, keys kept, into the replica bucket on a second S3 server
 * (replication), then the replica region's DR workflow run over it into the scratch server, emptied of
 * the first drill's database as a DR drill's fresh sidecar would be. Returns its verdict and the line
 * that says it.
 */
async function runDrDrill(
  demo: { s3: S3Server; scratch: PgCluster; client: DemoClient; backupId: string },
  step: (text: string) => void,
  cleanups: (() => Promise<void>)[],
): Promise<{ passed: boolean; report?: RestoreReport; line: string }> {
  const replica = await startS3({ bucket: REPLICA_BUCKET });
  cleanups.push(() => replica.stop());
  // The manifest last, as the primary wrote it: a replica with a manifest has the whole backup.
  const keys = (await demo.s3.keys(backupKeys('', DATABASE, demo.backupId).folder)).sort(
    (a, b) => Number(a.endsWith(MANIFEST_FILE)) - Number(b.endsWith(MANIFEST_FILE)),
  );
  for (const key of keys) {
    await replica.client.send(
      new PutObjectCommand({ Bucket: replica.bucket, Key: key, Body: await demo.s3.get(key) }),
    );
  }
  step(
    `replication: backup ${demo.backupId}'s ${keys.length} objects copied, keys kept, to s3://${replica.bucket} on a second S3 server (the replica region's, ${replica.endpoint})`,
  );

  const workflow = synthesizeDrDrillWorkflow([DEMO_DRILL]);
  step(
    `DR drill state machine synthesized from PgproofReplica in ${LOCAL_REPLICA_REGION}; running it locally`,
  );
  await demo.scratch.query('postgres', `DROP DATABASE "${DATABASE}" WITH (FORCE)`);
  const { passed, report } = await runDrill(
    { workflow, region: LOCAL_REPLICA_REGION, s3: replica },
    { scratch: demo.scratch, client: demo.client },
    step,
  );
  const verdict = `DR drill in ${report?.dr?.region ?? LOCAL_REPLICA_REGION}: ${passed ? 'passed' : 'FAILED'}`;
  return {
    passed,
    ...(report ? { report } : {}),
    line: report?.dr
      ? `${verdict}; newest replicated backup ${report.dr.newestBackupId}, ${report.dr.newestBackupAgeHours.toFixed(1)} h old, replication lag ${report.dr.replicationLagSeconds} s`
      : verdict,
  };
}

/** One region's drill: its workflow, and the bucket it drills (the primary's or the replica's). */
interface RegionDrill {
  readonly workflow: DrillWorkflow;
  readonly region: string;
  readonly s3: S3Server;
}

/**
 * The ResolveBackup and EvaluateReport handlers as `region`'s functions. A handler module makes its S3
 * client once, and the client keeps the endpoint it first reached, as a function keeps its region's:
 * each region's handlers are modules of their own, so the replica region's reach the replica's server.
 */
async function loadRegionHandlers(region: string) {
  const load = (path: string) => import(new URL(`${path}?region=${region}`, import.meta.url).href);
  const [resolve, evaluate] = await Promise.all([
    load('../functions/resolve-backup.ts') as Promise<typeof import('../functions/resolve-backup.ts')>,
    load('../functions/evaluate-report.ts') as Promise<typeof import('../functions/evaluate-report.ts')>,
  ]);
  return { resolveBackup: resolve.handler, evaluateReport: evaluate.handler };
}

/**
 * Executes a drill workflow with the real handlers and runner; returns the drill's report and whether
 * it passed (the execution ended in Succeed with a passing report).
 */
async function runDrill(
  drill: RegionDrill,
  servers: { scratch: PgCluster; client: DemoClient },
  step: (text: string) => void,
): Promise<{ passed: boolean; report?: RestoreReport }> {
  const { workflow, s3 } = drill;
  const { scratch } = servers;
  // The Lambda handlers read their configuration from the environment, as in AWS.
  Object.assign(
    process.env,
    s3.env,
    workflow.resolveEnvironment,
    workflow.evaluateEnvironment,
    SILENT_LAMBDA_ENV,
    { BACKUP_BUCKET: s3.bucket, BACKUP_PREFIX: '' },
  );
  const { resolveBackup, evaluateReport } = await loadRegionHandlers(drill.region);
  let report: RestoreReport | undefined;
  const notify = (input: unknown) => {
    const { Subject } = notificationSchema.parse(input);
    step(`Notify: "${Subject}"`);
    return { MessageId: 'local' };
  };
  const handlers: DrillTaskHandlers = {
    ResolveBackup: async (input) => {
      const plan = await resolveBackup(input);
      step(`ResolveBackup: ${JSON.stringify(input)} -> ${plan.backupId}`);
      return plan;
    },
    RunRestore: async (input) => {
      const environment = restoreRunnerEnvironment(runRestoreRequestSchema.parse(input));
      step('RunRestore: the restore runner downloads, checks SHA-256, restores with pg_restore -j, verifies');
      // As ECS runs it: the task definition's environment, then the run's override; the bucket and the
      // scratch server are the local ones.
      const result = await startProcess(
        process.execPath,
        ['--import', 'tsx', 'containers/pg-restore/main.ts'],
        {
          ...workflow.runnerEnvironment,
          ...s3.env,
          ...environment,
          ...scratch.env(DATABASE),
          ...servers.client.env,
        },
      ).result;
      report = parseRestoreReport(lastLine(result.stdout), 'the restore runner output');
      if (result.code !== 0) {
        const error = new Error(
          JSON.stringify({ Containers: [{ Name: 'restore-runner', ExitCode: result.code }] }),
        );
        error.name = 'States.TaskFailed';
        throw error;
      }
      return { Containers: [{ Name: 'restore-runner', ExitCode: 0 }] };
    },
    EvaluateReport: async (input) => {
      const verdict = await evaluateReport(input);
      step('EvaluateReport: report read, RTO compared, metrics published');
      return verdict;
    },
    Notify: notify,
    NotifyFailure: notify,
  };
  const outcome = await runDrillWorkflow(workflow.definition, { database: DATABASE }, handlers);
  step(
    outcome.error
      ? `execution ended in Fail: ${outcome.error.name}: ${outcome.error.message}`
      : 'execution ended in Succeed',
  );
  return { passed: !outcome.error && report?.passed === true, ...(report ? { report } : {}) };
}
