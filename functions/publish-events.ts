import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { drillPlanSchema } from '../core/drill.ts';
import { drillEvaluationSchema } from '../core/drill-evaluation.ts';
import { parseRestoreReport, type RestoreReport } from '../core/drill-report.ts';
import { describeS3Error, PgproofError } from '../core/errors.ts';
import {
  backupFailed,
  backupSucceeded,
  type DrillOutcome,
  drillOutcome,
  EVENT_SOURCE,
  overdue,
  type PgproofEvent,
  serializeEventDetail,
} from '../core/events.ts';
import { readManifest } from '../core/find-backup.ts';
import { STARTED_BY_PREFIX } from '../core/launch.ts';
import { parseManifestKey } from '../core/layout.ts';
import { createLogger } from '../core/observability.ts';
import { tierSchema } from '../core/retention-tiers.ts';
import { createS3Client, isNotFound } from '../core/s3-client.ts';
import { DATABASE_DIMENSION, METRICS, METRICS_NAMESPACE } from '../core/telemetry.ts';
import { parseInput, pgproofHandler } from './handler.ts';

/**
 * Turns what AWS says about pgproof's work into pgproof events (core/events.ts) on the default bus:
 * a manifest written (S3 Object Created) is a Backup Succeeded; a backup task stopped with a non-zero
 * exit (ECS Task State Change) a Backup Failed; a drill execution that ended (Step Functions Execution
 * Status Change) a Drill Passed or Drill Failed; an RPO or drill-overdue alarm into ALARM (CloudWatch
 * Alarm State Change) a Backup Overdue or Drill Overdue. The rules of cdk/constructs/backup-events.ts
 * send only those; anything else is refused, so a mistaken rule fails loudly.
 */

const logger = createLogger('publish-events');
const s3 = createS3Client();
const sfn = new SFNClient({});
const eventBridge = new EventBridgeClient({});

/** What the function serves: set by the construct. */
export const publishSettingsSchema = z.object({
  BACKUP_BUCKET: z.string({ error: 'set it to the backup bucket name' }).min(1),
  BACKUP_PREFIX: z.string().default(''),
  CLUSTER_ARN: z.string({ error: "set it to the backup cluster's ARN" }).startsWith('arn:'),
  DRILL_STATE_MACHINE_ARN: z.string({ error: "set it to the drill state machine's ARN" }).startsWith('arn:'),
});
export type PublishSettings = z.infer<typeof publishSettingsSchema>;

/** The SDK clients the function uses. */
export interface PublishClients {
  readonly s3: S3Client;
  readonly sfn: SFNClient;
  readonly eventBridge: EventBridgeClient;
}

const envelope = {
  id: z.string(),
  time: z.string(),
  region: z.string(),
  resources: z.array(z.string()).default([]),
};

const objectCreatedSchema = z.object({
  ...envelope,
  source: z.literal('aws.s3'),
  'detail-type': z.literal('Object Created'),
  detail: z.object({ bucket: z.object({ name: z.string() }), object: z.object({ key: z.string() }) }),
});

const taskStateChangeSchema = z.object({
  ...envelope,
  source: z.literal('aws.ecs'),
  'detail-type': z.literal('ECS Task State Change'),
  detail: z.object({
    clusterArn: z.string(),
    taskArn: z.string(),
    lastStatus: z.string(),
    startedBy: z.string().optional(),
    stopCode: z.string().optional(),
    stoppedReason: z.string().optional(),
    containers: z
      .array(
        z.object({ name: z.string(), exitCode: z.number().int().optional(), reason: z.string().optional() }),
      )
      .default([]),
    overrides: z
      .object({
        containerOverrides: z
          .array(
            z.object({
              environment: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
            }),
          )
          .optional(),
      })
      .optional(),
  }),
});

const executionStatusChangeSchema = z.object({
  ...envelope,
  source: z.literal('aws.states'),
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string(),
    stateMachineArn: z.string(),
    status: z.string(),
    input: z.string().nullish(),
    output: z.string().nullish(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

const alarmStateChangeSchema = z.object({
  ...envelope,
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  detail: z.object({
    alarmName: z.string(),
    state: z.object({ value: z.string(), reason: z.string().default(''), timestamp: z.string() }),
    configuration: z.object({
      metrics: z
        .array(
          z.object({
            metricStat: z
              .object({
                metric: z.object({
                  namespace: z.string(),
                  name: z.string(),
                  dimensions: z.record(z.string(), z.string()).default({}),
                }),
              })
              .optional(),
          }),
        )
        .default([]),
    }),
  }),
});

/** Every event the function is sent. */
export const sourceEventSchema = z.discriminatedUnion('source', [
  objectCreatedSchema,
  taskStateChangeSchema,
  executionStatusChangeSchema,
  alarmStateChangeSchema,
]);
export type SourceEvent = z.infer<typeof sourceEventSchema>;

/** An event the rules should not have sent: the function's wiring and the rules disagree. */
export class UnexpectedSourceEventError extends PgproofError {
  constructor(message: string) {
    super(`${message}; the rules of BackupEvents send only pgproof's own resources: check them`);
    this.name = 'UnexpectedSourceEventError';
  }
}

/** EventBridge refused some entries; the invocation fails so that Lambda tries it again. */
export class PutEventsFailedError extends PgproofError {
  constructor(message: string) {
    super(message);
    this.name = 'PutEventsFailedError';
  }
}

/** A pgproof event and what it is about, ready for PutEvents. */
export interface Publication {
  readonly event: PgproofEvent;
  /** ARNs of what the event is about. */
  readonly resources: readonly string[];
  /** When it happened (the source event's time). */
  readonly time: Date;
}

/** Backup Succeeded of the manifest just written. */
async function fromObjectCreated(
  source: z.infer<typeof objectCreatedSchema>,
  settings: PublishSettings,
  clients: PublishClients,
): Promise<Publication> {
  const bucket = source.detail.bucket.name;
  const key = source.detail.object.key;
  const place = parseManifestKey(key);
  if (bucket !== settings.BACKUP_BUCKET || place?.prefix !== settings.BACKUP_PREFIX) {
    throw new UnexpectedSourceEventError(
      `s3://${bucket}/${key} is not a manifest of this deployment's backups`,
    );
  }
  const manifest = await readManifest(clients.s3, bucket, key);
  const bucketArn = source.resources[0] ?? `arn:aws:s3:::${bucket}`;
  return {
    event: backupSucceeded(manifest, { bucket, bucketArn, manifestKey: key, region: source.region }),
    resources: [bucketArn],
    time: new Date(source.time),
  };
}

/** Backup Failed of a backup task that stopped with a non-zero exit or never started; undefined otherwise. */
function fromTaskStateChange(
  source: z.infer<typeof taskStateChangeSchema>,
  settings: PublishSettings,
): Publication | undefined {
  const { detail } = source;
  if (detail.clusterArn !== settings.CLUSTER_ARN || !detail.startedBy?.startsWith(STARTED_BY_PREFIX)) {
    throw new UnexpectedSourceEventError(`task ${detail.taskArn} is not a backup task of this deployment`);
  }
  const failed = detail.containers.find((c) => c.exitCode !== undefined && c.exitCode !== 0);
  if (detail.lastStatus !== 'STOPPED' || (!failed && detail.stopCode !== 'TaskFailedToStart'))
    return undefined;
  const environment = new Map(
    (detail.overrides?.containerOverrides ?? [])
      .flatMap((o) => o.environment ?? [])
      .map((e) => [e.name, e.value]),
  );
  const tier = tierSchema.safeParse(environment.get('BACKUP_TIER'));
  const container = failed ?? detail.containers[0];
  const reason = [detail.stoppedReason, container?.reason].filter(Boolean).join('; ') || 'no reason given';
  return {
    event: backupFailed({
      database: detail.startedBy.slice(STARTED_BY_PREFIX.length),
      backupId: environment.get('BACKUP_ID'),
      tier: tier.success ? tier.data : undefined,
      taskArn: detail.taskArn,
      clusterArn: detail.clusterArn,
      region: source.region,
      exitCode: container?.exitCode ?? null,
      stopCode: detail.stopCode,
      reason,
    }),
    resources: [detail.taskArn],
    time: new Date(source.time),
  };
}

/** The part of the drill workflow's state this function reads (`$.drill`, `$.evaluation`). */
const drillStateSchema = z.object({
  drill: drillPlanSchema.pick({ database: true, backupId: true, manifestKey: true, reportKey: true }),
  evaluation: drillEvaluationSchema.optional(),
});
type DrillState = z.infer<typeof drillStateSchema>;

/** `text` as the drill workflow's state, or undefined when it does not hold a plan. */
function parseDrillState(text: string | null | undefined): DrillState | undefined {
  if (!text) return undefined;
  try {
    const parsed = drillStateSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The newest state data of an execution holding the drill's plan (a failed execution has no output). */
async function lastDrillState(sfnClient: SFNClient, executionArn: string): Promise<DrillState | undefined> {
  // An execution of the drill workflow has about 20 events; one page, newest first, holds them all.
  const history = await sfnClient.send(
    new GetExecutionHistoryCommand({
      executionArn,
      reverseOrder: true,
      includeExecutionData: true,
      maxResults: 200,
    }),
  );
  const data = (e: HistoryEvent) => [e.stateExitedEventDetails?.output, e.stateEnteredEventDetails?.input];
  for (const text of (history.events ?? []).flatMap(data)) {
    const state = parseDrillState(text);
    if (state) return state;
  }
  return undefined;
}

/** The drill's report; undefined when the runner wrote none. */
async function readReport(
  s3Client: S3Client,
  bucket: string,
  key: string,
): Promise<RestoreReport | undefined> {
  try {
    const response = await s3Client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return parseRestoreReport((await response.Body?.transformToString('utf8')) ?? '', key);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw describeS3Error(error, 'GetObject', bucket, key);
  }
}

const TERMINAL = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** Drill Passed or Drill Failed of an execution that ended; undefined while it runs. */
async function fromExecutionStatusChange(
  source: z.infer<typeof executionStatusChangeSchema>,
  settings: PublishSettings,
  clients: PublishClients,
): Promise<Publication | undefined> {
  const { detail } = source;
  if (detail.stateMachineArn !== settings.DRILL_STATE_MACHINE_ARN) {
    throw new UnexpectedSourceEventError(
      `execution ${detail.executionArn} is not of the drill state machine`,
    );
  }
  const status = TERMINAL.find((s) => s === detail.status);
  if (!status) return undefined;
  const state = parseDrillState(detail.output) ?? (await lastDrillState(clients.sfn, detail.executionArn));
  const report = state
    ? await readReport(clients.s3, settings.BACKUP_BUCKET, state.drill.reportKey)
    : undefined;
  const input = z.object({ database: z.string().min(1) }).safeParse(safeJson(detail.input));
  const outcome: DrillOutcome = {
    executionArn: detail.executionArn,
    region: source.region,
    bucket: settings.BACKUP_BUCKET,
    status,
    database: state?.drill.database ?? (input.success ? input.data.database : 'unknown'),
    ...(state ? { plan: state.drill } : {}),
    ...(state?.evaluation ? { verdict: state.evaluation } : {}),
    ...(report ? { report } : {}),
    ...(detail.error ? { error: detail.error } : {}),
    ...(detail.cause ? { cause: detail.cause } : {}),
  };
  return { event: drillOutcome(outcome), resources: [detail.executionArn], time: new Date(source.time) };
}

function safeJson(text: string | null | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Which pgproof metric the overdue alarms watch, and the kind of event each gives. */
const OVERDUE_METRICS: Record<string, 'backup' | 'drill'> = {
  [METRICS.backupSucceeded]: 'backup',
  [METRICS.drillPassed]: 'drill',
};

/**
 * Backup Overdue or Drill Overdue of an alarm that went into ALARM. The alarm's own metric says which
 * database (its `Database` dimension) and which kind (`BackupSucceeded` or `DrillPassed`): the event
 * carries it, so no map of alarms has to fit into the function's environment.
 */
function fromAlarmStateChange(source: z.infer<typeof alarmStateChangeSchema>): Publication | undefined {
  const { detail } = source;
  const alarmArn = source.resources[0] ?? '';
  if (detail.state.value !== 'ALARM') return undefined;
  const metric = detail.configuration.metrics
    .map((m) => m.metricStat?.metric)
    .find((m) => m?.namespace === METRICS_NAMESPACE && m.name in OVERDUE_METRICS);
  const database = metric?.dimensions[DATABASE_DIMENSION];
  const kind = metric && OVERDUE_METRICS[metric.name];
  if (!kind || !database) {
    throw new UnexpectedSourceEventError(
      `alarm ${detail.alarmName} watches no ${METRICS.backupSucceeded} or ${METRICS.drillPassed} metric of one database`,
    );
  }
  return {
    event: overdue({
      kind,
      database,
      alarmName: detail.alarmName,
      alarmArn,
      region: source.region,
      reason: detail.state.reason,
      since: detail.state.timestamp,
    }),
    resources: [alarmArn],
    time: new Date(source.time),
  };
}

/** The pgproof event of one AWS event; undefined when it is not an outcome (a drill still running). */
export async function toPublication(
  source: SourceEvent,
  settings: PublishSettings,
  clients: PublishClients,
): Promise<Publication | undefined> {
  switch (source.source) {
    case 'aws.s3':
      return fromObjectCreated(source, settings, clients);
    case 'aws.ecs':
      return fromTaskStateChange(source, settings);
    case 'aws.states':
      return fromExecutionStatusChange(source, settings, clients);
    case 'aws.cloudwatch':
      return fromAlarmStateChange(source);
  }
}

/** Puts the event on the default bus; throws when EventBridge did not take it (PutEvents can fail per entry). */
export async function putEvent(client: EventBridgeClient, publication: Publication): Promise<void> {
  const response = await client.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: EVENT_SOURCE,
          DetailType: publication.event.detailType,
          Detail: serializeEventDetail(publication.event),
          Resources: [...publication.resources],
          Time: publication.time,
        },
      ],
    }),
  );
  if ((response.FailedEntryCount ?? 0) > 0) {
    const entry = response.Entries?.find((e) => e.ErrorCode);
    throw new PutEventsFailedError(
      `EventBridge did not take the ${publication.event.detailType} event of ${publication.event.detail.database} (${entry?.ErrorCode ?? 'no code'}: ${entry?.ErrorMessage ?? 'no message'}); the invocation is retried`,
    );
  }
}

/** An AWS event in, its pgproof event on the bus; returns the detail type put, if any. */
export const handler = pgproofHandler({ logger }, async (event): Promise<string | undefined> => {
  const settings = parseInput(publishSettingsSchema, process.env, 'publish-events environment');
  const source = parseInput(sourceEventSchema, event, 'publish-events input');
  logger.appendKeys({ sourceEventId: source.id, sourceDetailType: source['detail-type'] });
  const publication = await toPublication(source, settings, { s3, sfn, eventBridge });
  if (!publication) {
    logger.info('not an outcome: nothing to publish');
    return undefined;
  }
  logger.appendKeys({ database: publication.event.detail.database });
  await putEvent(eventBridge, publication);
  logger.info('published', { detailType: publication.event.detailType });
  return publication.event.detailType;
});
