import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { SCRATCH_SUPERUSER } from '../cdk/constructs/drill-tasks.ts';
import { parseRestoreReport, type RestoreReport } from '../core/drill-report.ts';
import { ConfigError, oneLine } from '../core/errors.ts';
import { backupKeys, formatBackupId } from '../core/layout.ts';
import { parseManifest } from '../core/manifest.ts';
import { clientVersion } from '../engines/backup/pg-tools.ts';
import {
  type DrillTaskHandlers,
  notificationSchema,
  restoreRunnerEnvironment,
  runDrillWorkflow,
  runRestoreRequestSchema,
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
 * throwaway server standing in for the drill's PostgreSQL sidecar. Everything is removed at the end,
 * also on Ctrl-C.
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

/** Runs the demo; returns 0 when the drill passed. */
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
      `backup ${backupId}: ${formatBytes(manifest.dump.bytes)} (${manifest.dump.compression}), ` +
        `${manifest.tables.length} tables counted and hashed in the dump's snapshot, sha256 ${manifest.dump.sha256.slice(0, 12)}...`,
    );

    const workflow = synthesizeDrillWorkflow([DEMO_DRILL]);
    step('restore drill state machine synthesized from the CDK construct; running it locally');
    const report = await runDrill(workflow, { s3, scratch, client }, step);
    output.out('');
    if (report) for (const line of formatReport(report)) output.out(line);
    output.out('');
    step(report?.passed ? 'the backup restored and verified: it is a backup' : 'the drill FAILED');
    return report?.passed ? EXIT.ok : EXIT.failed;
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

/** Executes the drill workflow with the real handlers and runner; returns the drill's report. */
async function runDrill(
  workflow: ReturnType<typeof synthesizeDrillWorkflow>,
  servers: { s3: S3Server; scratch: PgCluster; client: DemoClient },
  step: (text: string) => void,
): Promise<RestoreReport | undefined> {
  const { s3, scratch } = servers;
  // The Lambda handlers read their configuration from the environment, as in AWS.
  Object.assign(process.env, s3.env, workflow.resolveEnvironment, SILENT_LAMBDA_ENV, {
    BACKUP_BUCKET: s3.bucket,
    BACKUP_PREFIX: '',
  });
  const [{ handler: resolveBackup }, { handler: evaluateReport }] = await Promise.all([
    import('../functions/resolve-backup.ts'),
    import('../functions/evaluate-report.ts'),
  ]);
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
      const result = await startProcess(
        process.execPath,
        ['--import', 'tsx', 'containers/pg-restore/main.ts'],
        {
          ...s3.env,
          RESTORE_MODE: 'drill',
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
  return report;
}
