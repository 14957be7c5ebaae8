import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadDeploymentConfig,
  parseDatabaseSettings,
  parseDeploymentConfig,
  retentionDays,
} from '../../core/config.ts';
import { database, problemsOf, valid } from '../support/configs.ts';

const withDatabase = (changes: Record<string, unknown>) => ({
  ...valid,
  databases: [{ ...database, ...changes }],
});

describe('parseDeploymentConfig', () => {
  it('applies the documented defaults', () => {
    const config = parseDeploymentConfig(valid, 'pgproof.config.json');
    expect(config).toMatchObject({
      stackNamePrefix: 'Pgproof',
      backupPrefix: '',
      objectLockMode: 'GOVERNANCE',
      breakGlassRoleName: 'pgproof-break-glass',
      notificationEmails: [],
      network: { type: 'create', cidr: '10.80.0.0/24', maxAzs: 2 },
    });
    expect(config.databases[0]).toMatchObject({
      port: 5432,
      dumpGlobals: true,
      verify: 'counts',
      includeTables: [],
      task: { cpu: 1024, memoryMiB: 2048, architecture: 'ARM64' },
      streams: 1,
    });
  });

  it('dumps with one stream per vCPU of the task unless streams says', () => {
    const streamsOf = (changes: Record<string, unknown>) =>
      parseDeploymentConfig(withDatabase(changes), 'x').databases[0]?.streams;
    const sizes = [
      [256, 512, 1],
      [512, 1024, 1],
      [1024, 2048, 1],
      [2048, 4096, 2],
      [4096, 8192, 4],
      [8192, 16384, 8],
      [16384, 32768, 16],
    ] as const;
    for (const [cpu, memoryMiB, streams] of sizes) {
      expect(streamsOf({ task: { cpu, memoryMiB } }), `${cpu} CPU units`).toBe(streams);
    }
    expect(streamsOf({ task: { cpu: 4096, memoryMiB: 8192 }, streams: 2 })).toBe(2);
    // More streams than vCPUs gain nothing, but are not wrong.
    expect(streamsOf({ streams: 16 })).toBe(16);
  });

  it('rejects dump streams that are not a whole number from 1 to 16', () => {
    const fix =
      "use 1 to 16 parallel pg_dump processes, at most the task's vCPUs (more gain nothing); leave it out for one per vCPU";
    const cases = [
      [0, 'must be at least 1'],
      [17, 'must be at most 16'],
      [2.5, 'must be a whole number'],
      ['4', 'must be a number'],
    ] as const;
    for (const [streams, problem] of cases) {
      expect(problemsOf(withDatabase({ streams })), String(streams)).toEqual([
        `databases[0].streams: ${problem}; ${fix}`,
      ]);
    }
  });

  it('accepts the committed example config', () => {
    const config = loadDeploymentConfig(join(import.meta.dirname, '../../pgproof.config.example.json'));
    expect(config.databases.map((db) => db.name)).toEqual(['orders', 'billing']);
    // Both example databases are drilled, each with a check of its own data.
    expect(config.databases.map((db) => db.drill?.checks.length)).toEqual([1, 1]);
  });

  it('turns counts into days per tier period', () => {
    const config = parseDeploymentConfig(
      withDatabase({ retention: { daily: { days: 10 }, weekly: { count: 4 }, monthly: { count: 6 } } }),
      'x',
    );
    const [orders] = config.databases;
    if (!orders) throw new Error('expected one database');
    expect(retentionDays(orders)).toEqual({
      daily: 10,
      weekly: 28,
      monthly: 186,
      yearly: 7 * 366,
    });
  });

  it('rejects a missing required field naming its path and the fix', () => {
    const { account: _, ...rest } = valid;
    expect(problemsOf(rest)).toEqual(['account: is missing; set it to the 12-digit AWS account id']);
  });

  it('rejects a malformed account id', () => {
    expect(problemsOf({ ...valid, account: '1234' })).toEqual([
      'account: must be a 12-digit AWS account id; e.g. "123456789012"',
    ]);
  });

  it('rejects the same region for primary and replica', () => {
    expect(problemsOf({ ...valid, replicaRegion: 'eu-west-1' })).toEqual([
      'replicaRegion: is the primary region too; pick a second region so a regional outage spares the replica',
    ]);
  });

  it('rejects a cron expression in the five-field Unix form', () => {
    expect(problemsOf(withDatabase({ schedule: '0 2 * * *' }))).toEqual([
      'databases[0].schedule: "0 2 * * *" is not an EventBridge Scheduler cron expression; write cron(minutes hours day-of-month month day-of-week year), e.g. "cron(0 2 * * ? *)"',
    ]);
  });

  it('rejects a cron expression without "?" in a day field', () => {
    expect(problemsOf(withDatabase({ schedule: 'cron(0 2 * * * *)' }))).toEqual([
      'databases[0].schedule: "cron(0 2 * * * *)" must have "?" in exactly one of day-of-month and day-of-week; e.g. "cron(0 2 * * ? *)"',
    ]);
  });

  it('rejects an unknown time zone', () => {
    expect(problemsOf(withDatabase({ timeZone: 'Europe/Berlyn' }))).toEqual([
      'databases[0].timeZone: "Europe/Berlyn" is not an IANA time zone; use a name like "Europe/Berlin" or "UTC"',
    ]);
  });

  it('rejects a tier retention giving both days and count', () => {
    expect(problemsOf(withDatabase({ retention: { daily: { days: 7, count: 7 } } }))).toEqual([
      'databases[0].retention.daily: must set exactly one of "days" and "count"; e.g. { "count": 7 }',
    ]);
  });

  it('rejects a tier retention given as a bare number', () => {
    expect(problemsOf(withDatabase({ retention: { weekly: 35 } }))).toEqual([
      'databases[0].retention.weekly: must be an object like { "days": 35 } or { "count": 5 }; set one of them',
    ]);
  });

  it('rejects an RPO longer than an alarm can look back', () => {
    expect(problemsOf(withDatabase({ rpoHours: 200 }))).toEqual([
      'databases[0].rpoHours: must be at most 168; give the hours after which a missing backup alarms, e.g. 26 for a daily backup',
    ]);
  });

  it('rejects a memory size that does not fit the Fargate CPU size', () => {
    expect(problemsOf(withDatabase({ task: { cpu: 1024, memoryMiB: 1024 } }))).toEqual([
      'databases[0].task.memoryMiB: 1024 MiB does not fit 1024 CPU units; use 2048 to 8192 in steps of 1024',
    ]);
  });

  it('rejects a CPU size Fargate does not offer', () => {
    expect(problemsOf(withDatabase({ task: { cpu: 1000, memoryMiB: 2048 } }))).toEqual([
      'databases[0].task.cpu: 1000 is not a Fargate CPU size; use 256, 512, 1024, 2048, 4096, 8192 or 16384',
    ]);
  });

  it('rejects an unknown verify level', () => {
    expect(problemsOf(withDatabase({ verify: 'full' }))).toEqual([
      'databases[0].verify: must be "counts", "checksums" or "none"; counts is exact row counts per table',
    ]);
  });

  it('rejects a misspelt setting', () => {
    expect(problemsOf(withDatabase({ rpohours: 26 }))).toEqual([
      'databases[0].rpohours: is not a known setting; remove it or check its spelling',
    ]);
  });

  it('rejects two databases with the same name', () => {
    expect(problemsOf({ ...valid, databases: [database, { ...database, host: 'other' }] })).toEqual([
      'databases[1].name: "orders" is used twice; give each database its own name',
    ]);
  });

  it('rejects a database named like the folder of the drill reports or of the evidence ledgers', () => {
    expect(problemsOf(withDatabase({ name: 'drills' }))).toEqual([
      'databases[0].name: "drills" is the folder of the drill reports; give the database another name, e.g. "drills_db"',
    ]);
    expect(problemsOf(withDatabase({ name: 'ledger' }))).toEqual([
      'databases[0].name: "ledger" is the folder of the evidence ledgers; give the database another name, e.g. "ledger_db"',
    ]);
  });

  it('rejects a database name that cannot be a key prefix', () => {
    expect(problemsOf(withDatabase({ name: 'orders/eu' }))).toEqual([
      'databases[0].name: may hold only letters, digits, "_" and "-" (at most 63, starting with a letter or digit); e.g. "orders"',
    ]);
  });

  it('rejects a secret given by name instead of ARN', () => {
    expect(problemsOf(withDatabase({ secretArn: 'pgproof/orders' }))).toEqual([
      'databases[0].secretArn: is not a Secrets Manager secret ARN; use one like "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf"',
    ]);
  });

  it('rejects a secret ARN without its random suffix', () => {
    expect(
      problemsOf(
        withDatabase({ secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders' }),
      ),
    ).toEqual([
      "databases[0].secretArn: must be the secret's complete ARN, ending in its 6-character suffix; copy it from the Secrets Manager console",
    ]);
  });

  describe('IAM database authentication', () => {
    const { secretArn: _secret, ...withoutSecret } = database;
    const iamAuth = { user: 'pgproof_backup', resourceId: 'db-ABCDEFGHIJKLMNOPQRSTUVWXY0' };
    const withIam = (changes: Record<string, unknown>) => ({
      ...valid,
      databases: [{ ...withoutSecret, iamAuth, ...changes }],
    });

    it('takes a user and the resource id of an instance or an Aurora cluster instead of a secret', () => {
      const [db] = parseDeploymentConfig(withIam({}), 'pgproof.config.json').databases;
      expect(db?.iamAuth).toEqual(iamAuth);
      expect(db?.secretArn).toBeUndefined();
      const cluster = { user: 'pgproof_backup', resourceId: 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0' };
      expect(
        parseDeploymentConfig(withIam({ iamAuth: cluster }), 'pgproof.config.json').databases[0]?.iamAuth,
      ).toEqual(cluster);
    });

    it('rejects a database with neither a secret nor IAM authentication, with every other problem', () => {
      expect(problemsOf({ ...valid, databases: [{ ...withoutSecret, rpoHours: 0 }] })).toEqual([
        'databases[0].rpoHours: must be at least 1; give the hours after which a missing backup alarms, e.g. 26 for a daily backup',
        'databases[0].secretArn: is missing; set it to the ARN of the Secrets Manager secret with the password, e.g. "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/orders-AbCdEf", or log in without one: "iamAuth": { "user": "pgproof_backup", "resourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY0" }',
      ]);
    });

    it('rejects both a secret and IAM authentication', () => {
      expect(problemsOf(withDatabase({ iamAuth }))).toEqual([
        'databases[0].iamAuth: cannot be given with "secretArn"; keep "iamAuth" to log in with IAM database authentication (no password), or "secretArn" to log in with the secret\'s password',
      ]);
    });

    it("rejects a secret's key without the secret", () => {
      expect(
        problemsOf(
          withIam({
            secretKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          }),
        ),
      ).toEqual(['databases[0].secretKeyArn: is the key of the secret, and "iamAuth" uses none; remove it']);
    });

    it('rejects a resource id that is an instance name, and a user the grant could not name exactly', () => {
      expect(problemsOf(withIam({ iamAuth: { user: 'pgproof_*', resourceId: 'orders-db' } }))).toEqual([
        'databases[0].iamAuth.user: must be a database user name of letters, digits, "_", "$", "." and "-" (no wildcards: the IAM grant names exactly this user), e.g. "pgproof_backup"',
        'databases[0].iamAuth.resourceId: is not an RDS resource id; use the instance\'s DbiResourceId ("db-ABCDEFGHIJKLMNOPQRSTUVWXY0") or the Aurora cluster\'s DbClusterResourceId ("cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0"), not its name',
      ]);
    });

    it('rejects IAM authentication that is not an object of a user and a resource id', () => {
      expect(problemsOf(withIam({ iamAuth: true }))).toEqual([
        'databases[0].iamAuth: must be an object like { "user": "pgproof_backup", "resourceId": "db-ABCDEFGHIJKLMNOPQRSTUVWXY0" }',
      ]);
      expect(problemsOf(withIam({ iamAuth: { user: 'pgproof_backup', region: 'eu-west-1' } }))).toEqual([
        'databases[0].iamAuth.resourceId: is missing; give the resource id of the instance (DbiResourceId, "db-...") or the Aurora cluster (DbClusterResourceId, "cluster-..."), e.g. "db-ABCDEFGHIJKLMNOPQRSTUVWXY0"',
        'databases[0].iamAuth.region: is not a known setting; remove it or check its spelling',
      ]);
    });
  });

  it('rejects an existing network without subnets', () => {
    expect(problemsOf({ ...valid, network: { type: 'existing', vpcId: 'vpc-0123456789abcdef0' } })).toEqual([
      'network.subnets: must be a list of the private subnets the backup tasks run in',
    ]);
  });

  it('rejects resource ids that are not AWS ids, and missing ones, naming an example of each', () => {
    const network = {
      type: 'existing',
      vpcId: 'vpc-123',
      subnets: [
        { subnetId: 'subnet-xyz', availabilityZone: 'eu-west-1a', routeTableId: 'rtb-0123456789abcdef0' },
      ],
    };
    expect(problemsOf({ ...valid, network })).toEqual([
      'network.vpcId: is not a VPC id; use one like "vpc-0123456789abcdef0"',
      'network.subnets[0].subnetId: is not a subnet id; use one like "subnet-0123456789abcdef0"',
    ]);
    expect(
      problemsOf({
        ...valid,
        network: {
          ...network,
          vpcId: 'vpc-0123456789abcdef0',
          subnets: [
            { subnetId: 'subnet-0123456789abcdef0', availabilityZone: 'eu-west-1a', routeTableId: 'rt-1' },
          ],
        },
      }),
    ).toEqual([
      'network.subnets[0].routeTableId: is not a route table id; use one like "rtb-0123456789abcdef0"',
    ]);
    expect(problemsOf(withDatabase({ databaseSecurityGroupId: 'sg-12' }))).toEqual([
      'databases[0].databaseSecurityGroupId: is not a security group id; use one like "sg-0123456789abcdef0"',
    ]);
    expect(problemsOf({ ...valid, network: { type: 'existing', subnets: network.subnets } })).toContain(
      'network.vpcId: is missing; give the VPC id, e.g. "vpc-0123456789abcdef0"',
    );
  });

  it('rejects an unknown network type', () => {
    expect(problemsOf({ ...valid, network: { type: 'default' } })).toEqual([
      'network.type: must say { "type": "create" } or { "type": "existing", "vpcId": ..., "subnets": [...] }',
    ]);
  });

  it('rejects a notification address that is not an email', () => {
    expect(problemsOf({ ...valid, notificationEmails: ['oncall'] })).toEqual([
      'notificationEmails[0]: is not an email address; e.g. "oncall@example.com"',
    ]);
  });

  it('rejects a backup prefix without a trailing slash, with a wildcard, or with ".."', () => {
    for (const backupPrefix of ['backups', 'team*/', 'team/../']) {
      expect(problemsOf({ ...valid, backupPrefix }), backupPrefix).toEqual([
        'backupPrefix: must be empty or end with "/" (letters, digits and !_.\'()/- only, no ".."); e.g. "backups/"',
      ]);
    }
  });

  it('rejects a break-glass role given as an ARN, naming the fix', () => {
    expect(problemsOf({ ...valid, breakGlassRoleName: 'arn:aws:iam::123456789012:role/admin' })).toEqual([
      'breakGlassRoleName: must be an IAM role name (not an ARN); e.g. "pgproof-break-glass"',
    ]);
    expect(parseDeploymentConfig({ ...valid, breakGlassRoleName: 'KeyAdmin' }, 'c').breakGlassRoleName).toBe(
      'KeyAdmin',
    );
  });

  it('reports every problem at once, one line each', () => {
    const json = {
      ...valid,
      replicaRegion: 'eu-west-1',
      objectLockMode: 'STRICT',
      databases: [{ ...database, rpoHours: 0 }, database],
    };
    expect(() => parseDeploymentConfig(json, 'pgproof.config.json')).toThrow(
      [
        'pgproof.config.json has 4 problems:',
        '  objectLockMode: must be "GOVERNANCE" or "COMPLIANCE"; COMPLIANCE locks even against the account root',
        '  databases[0].rpoHours: must be at least 1; give the hours after which a missing backup alarms, e.g. 26 for a daily backup',
        '  replicaRegion: is the primary region too; pick a second region so a regional outage spares the replica',
        '  databases[1].name: "orders" is used twice; give each database its own name',
      ].join('\n'),
    );
  });
});

describe('parseDeploymentConfig: the restore drill', () => {
  const withDrill = (drill: unknown) => withDatabase({ drill });

  it('leaves a database without a drill undrilled by schedule and the deployment on its default majors', () => {
    const config = parseDeploymentConfig(valid, 'pgproof.config.json');
    expect(config.databases[0]?.drill).toBeUndefined();
    expect(config.drill).toEqual({});
  });

  it('applies the documented drill defaults, the time zone taken from the database', () => {
    const config = parseDeploymentConfig(withDrill({ rtoMinutes: 60 }), 'pgproof.config.json');
    expect(config.databases[0]?.drill).toEqual({
      rtoMinutes: 60,
      schedule: 'cron(0 5 ? * SUN *)',
      timeZone: 'Europe/Berlin',
      maxDaysWithoutSuccess: 7,
      checks: [],
    });
  });

  it('keeps a drill time zone of its own and the deployment-wide majors', () => {
    const config = parseDeploymentConfig(
      {
        ...withDrill({ rtoMinutes: 30, schedule: 'cron(0 4 1 * ? *)', timeZone: 'UTC' }),
        drill: { postgresMajors: [16, 17] },
      },
      'x',
    );
    expect(config.databases[0]?.drill).toMatchObject({ schedule: 'cron(0 4 1 * ? *)', timeZone: 'UTC' });
    expect(config.drill.postgresMajors).toEqual([16, 17]);
  });

  it('rejects a drill without its RTO', () => {
    expect(problemsOf(withDrill({ schedule: 'cron(0 5 ? * SUN *)' }))).toEqual([
      'databases[0].drill.rtoMinutes: is missing; give the minutes a restore (download and pg_restore) may take, e.g. 60',
    ]);
  });

  it('rejects an RTO that is not whole minutes', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 1.5 }))).toEqual([
      'databases[0].drill.rtoMinutes: must be a whole number; give the minutes a restore (download and pg_restore) may take, e.g. 60',
    ]);
  });

  it('rejects a drill given as something other than an object', () => {
    expect(problemsOf(withDrill('weekly'))).toEqual([
      'databases[0].drill: must be an object like { "rtoMinutes": 60 }; leave it out to drill only on demand',
    ]);
  });

  it('rejects a drill schedule without "?" in a day field, with a drill-like example', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 60, schedule: 'cron(0 5 * * SUN *)' }))).toEqual([
      'databases[0].drill.schedule: "cron(0 5 * * SUN *)" must have "?" in exactly one of day-of-month and day-of-week; e.g. "cron(0 5 ? * SUN *)"',
    ]);
  });

  it('rejects an unknown drill time zone', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 60, timeZone: 'Mars/Olympus' }))).toEqual([
      'databases[0].drill.timeZone: "Mars/Olympus" is not an IANA time zone; use a name like "Europe/Berlin" or "UTC"',
    ]);
  });

  it('rejects more days without a passed drill than an alarm can look back', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 60, maxDaysWithoutSuccess: 8 }))).toEqual([
      'databases[0].drill.maxDaysWithoutSuccess: must be at most 7; give the days without a passed drill before the alarm fires (a CloudWatch alarm looks back at most 7)',
    ]);
  });

  it('rejects a check without its SQL and a misspelt check field', () => {
    expect(
      problemsOf(withDrill({ rtoMinutes: 60, checks: [{ name: 'orders exist', query: 'select true' }] })),
    ).toEqual([
      'databases[0].drill.checks[0].sql: is missing; write a query returning one row whose first column is true, e.g. "select count(*) > 0 from orders"',
      'databases[0].drill.checks[0].query: is not a known setting; remove it or check its spelling',
    ]);
  });

  it('rejects checks that are not a list', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 60, checks: 'select true' }))).toEqual([
      'databases[0].drill.checks: must be a list like [{ "name": "orders exist", "sql": "select count(*) > 0 from orders" }]',
    ]);
  });

  it('rejects two checks with the same name', () => {
    const check = { name: 'orders exist', sql: 'select count(*) > 0 from orders' };
    expect(
      problemsOf(withDrill({ rtoMinutes: 60, checks: [check, { ...check, sql: 'select true' }] })),
    ).toEqual([
      'databases[0].drill.checks[1].name: "orders exist" is used twice; give each check its own name, as the drill report names failed checks by it',
    ]);
  });

  it('rejects a misspelt drill setting', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 60, maxDays: 3 }))).toEqual([
      'databases[0].drill.maxDays: is not a known setting; remove it or check its spelling',
    ]);
  });

  it("keeps a database's own scratch server image, on ECR Public or in the deployment's own ECR", () => {
    for (const postgresImage of [
      'public.ecr.aws/docker/library/postgres:{major}',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/pg{major}-vector',
    ]) {
      const config = parseDeploymentConfig(withDrill({ rtoMinutes: 60, postgresImage }), 'x');
      expect(config.databases[0]?.drill?.postgresImage).toBe(postgresImage);
    }
    expect(parseDeploymentConfig(withDrill({ rtoMinutes: 60 }), 'x').databases[0]?.drill).not.toHaveProperty(
      'postgresImage',
    );
  });

  it('rejects a scratch server image without {major}', () => {
    expect(
      problemsOf(withDrill({ rtoMinutes: 60, postgresImage: 'public.ecr.aws/docker/library/postgres:17' })),
    ).toEqual([
      'databases[0].drill.postgresImage: "public.ecr.aws/docker/library/postgres:17" has no {major}; put {major} where the PostgreSQL major goes (each major is drilled in a server of its own), e.g. "public.ecr.aws/docker/library/postgres:{major}" or "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5"',
    ]);
  });

  it('rejects a scratch server image a drill task cannot reach, naming ECR Public and the own ECR', () => {
    expect(problemsOf(withDrill({ rtoMinutes: 60, postgresImage: 'postgis/postgis:{major}-3.5' }))).toEqual([
      `databases[0].drill.postgresImage: "postgis/postgis:{major}-3.5" is neither on ECR Public nor in this deployment's ECR, and drill tasks reach only ECR (through the VPC's endpoints, no internet route); use the image's ECR Public name ("public.ecr.aws/...", pulled through pgproof's cache) or push it to this account's ECR in the primary region, e.g. "public.ecr.aws/docker/library/postgres:{major}" or "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5"`,
    ]);
    expect(
      problemsOf(withDrill({ rtoMinutes: 60, postgresImage: 'ghcr.io/acme/postgres:{major}' }))[0],
    ).toMatch(
      /^databases\[0\]\.drill\.postgresImage: "ghcr\.io\/acme\/postgres:\{major\}" is neither on ECR Public/,
    );
  });

  it('rejects an ECR Public image without its registry alias, and text that is no image', () => {
    expect(
      problemsOf(withDrill({ rtoMinutes: 60, postgresImage: 'public.ecr.aws/postgres:{major}' })),
    ).toEqual([
      'databases[0].drill.postgresImage: "public.ecr.aws/postgres:{major}" names no registry alias; ECR Public images are public.ecr.aws/<alias>/<repository>, e.g. "public.ecr.aws/docker/library/postgres:{major}"',
    ]);
    expect(problemsOf(withDrill({ rtoMinutes: 60, postgresImage: 'PostGIS {major}' }))).toEqual([
      'databases[0].drill.postgresImage: "PostGIS {major}" is not an image reference; write <registry>/<repository>:<tag> with {major} in it, e.g. "public.ecr.aws/docker/library/postgres:{major}" or "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5"',
    ]);
    expect(problemsOf(withDrill({ rtoMinutes: 60, postgresImage: '' }))).toEqual([
      'databases[0].drill.postgresImage: must not be empty; name a PostgreSQL image with {major} for the major, e.g. "public.ecr.aws/docker/library/postgres:{major}" or "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5"',
    ]);
  });

  it("rejects an image in another account's or region's ECR, naming where to push it", () => {
    expect(
      problemsOf(
        withDrill({
          rtoMinutes: 60,
          postgresImage: '210987654321.dkr.ecr.us-east-1.amazonaws.com/postgis:{major}-3.5',
        }),
      ),
    ).toEqual([
      `databases[0].drill.postgresImage: "210987654321.dkr.ecr.us-east-1.amazonaws.com/postgis:{major}-3.5" is in the ECR of account 210987654321 in us-east-1, and drill tasks pull only from this deployment's account 123456789012 in eu-west-1 (the primary region) through the VPC's endpoints; push or replicate the image there, e.g. "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}-3.5"`,
    ]);
    expect(
      problemsOf(
        withDrill({
          rtoMinutes: 60,
          postgresImage: '123456789012.dkr.ecr.eu-central-1.amazonaws.com/postgis:{major}',
        }),
      ),
    ).toEqual([
      `databases[0].drill.postgresImage: "123456789012.dkr.ecr.eu-central-1.amazonaws.com/postgis:{major}" is in the ECR of account 123456789012 in eu-central-1, and drill tasks pull only from this deployment's account 123456789012 in eu-west-1 (the primary region) through the VPC's endpoints; push or replicate the image there, e.g. "123456789012.dkr.ecr.eu-west-1.amazonaws.com/postgis:{major}"`,
    ]);
  });

  it('rejects an empty list of PostgreSQL majors', () => {
    expect(problemsOf({ ...valid, drill: { postgresMajors: [] } })).toEqual([
      'drill.postgresMajors: must list at least one PostgreSQL major version, e.g. [16]; leave it out for 13 to 18',
    ]);
  });

  it('rejects a PostgreSQL major that is not one and a major listed twice', () => {
    expect(problemsOf({ ...valid, drill: { postgresMajors: [16, 9.6, 16] } })).toEqual([
      'drill.postgresMajors[1]: must be a whole number; give PostgreSQL major versions, e.g. [15, 16, 17]',
      'drill.postgresMajors[2]: 16 is listed twice; list each major once',
    ]);
  });

  it('rejects a deployment-wide drill that is not an object', () => {
    expect(problemsOf({ ...valid, drill: [] })).toEqual([
      'drill: must be an object like { "postgresMajors": [16, 17] }',
    ]);
  });

  it('reports drill problems together with every other problem', () => {
    expect(
      problemsOf({
        ...valid,
        replicaRegion: 'eu-west-1',
        databases: [{ ...database, rpoHours: 0, drill: { rtoMinutes: 0 } }],
      }),
    ).toEqual([
      'databases[0].rpoHours: must be at least 1; give the hours after which a missing backup alarms, e.g. 26 for a daily backup',
      'databases[0].drill.rtoMinutes: must be at least 1; give the minutes a restore (download and pg_restore) may take, e.g. 60',
      'replicaRegion: is the primary region too; pick a second region so a regional outage spares the replica',
    ]);
  });
});

describe('loadDeploymentConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgproof-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rejects a missing file telling to copy the example', () => {
    expect(() => loadDeploymentConfig(join(dir, 'pgproof.config.json'))).toThrow(
      `${join(dir, 'pgproof.config.json')}: not found; copy pgproof.config.example.json to pgproof.config.json and edit it, or pass -c config=<path>`,
    );
  });

  it('rejects a file that is not JSON', () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ "account": ');
    expect(() => loadDeploymentConfig(path)).toThrow(
      /broken\.json: is not valid JSON \(.+\); fix the syntax$/,
    );
  });
});

describe('chat', () => {
  it('takes Slack, Teams and webhooks, sending failures only by default', () => {
    const config = parseDeploymentConfig(
      {
        ...valid,
        chat: {
          slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCD' },
          teams: {
            teamId: '00000000-0000-4000-8000-000000000001',
            tenantId: '00000000-0000-4000-8000-000000000002',
            channelId: '19%3a0123abcd%40thread.tacv2',
          },
          webhooks: [{ name: 'pager', url: 'https://events.example.com/pgproof' }],
        },
      },
      'test',
    );
    expect(config.chat?.includeSuccesses).toBe(false);
    expect(config.chat?.webhooks.map((w) => w.name)).toEqual(['pager']);
  });

  it('rejects a plain-HTTP webhook, a Slack channel name and a Teams channel id not URL-encoded, each by path', () => {
    expect(
      problemsOf({
        ...valid,
        chat: {
          slack: { workspaceId: 'T0123ABCD', channelId: '#backups' },
          teams: {
            teamId: '00000000-0000-4000-8000-000000000001',
            tenantId: '00000000-0000-4000-8000-000000000002',
            channelId: '19:0123abcd@thread.tacv2',
          },
          webhooks: [{ name: 'pager', url: 'http://events.example.com' }],
        },
      }),
    ).toEqual([
      `chat.slack.channelId: must be a Slack channel id of capital letters and digits, e.g. "C0123ABCD" (the channel's details show it)`,
      `chat.teams.channelId: must be the channel id as it appears URL-encoded in the channel's link, e.g. "19%3a0123abcd%40thread.tacv2"`,
      'chat.webhooks[0].url: must be an https:// address; the events are posted to it as JSON',
    ]);
  });
});

describe('parseDatabaseSettings (the library form)', () => {
  it('applies the config file defaults to settings given in code', () => {
    const settings = parseDatabaseSettings(
      {
        database: 'orders',
        schedule: 'cron(0 2 * * ? *)',
        timeZone: 'UTC',
        rpoHours: 26,
        drill: { rtoMinutes: 30 },
      },
      "addDatabase('orders')",
    );
    expect(settings.verify).toBe('counts');
    expect(settings.task).toEqual({ cpu: 1024, memoryMiB: 2048, architecture: 'ARM64' });
    expect(settings.drill?.timeZone).toBe('UTC');
    expect(settings.streams).toBe(1);
  });

  it("takes the dump streams from the task's vCPUs, or as given", () => {
    const settings = (changes: Record<string, unknown>) =>
      parseDatabaseSettings(
        { database: 'orders', schedule: 'cron(0 2 * * ? *)', timeZone: 'UTC', rpoHours: 26, ...changes },
        "addDatabase('orders')",
      );
    expect(settings({ task: { cpu: 4096, memoryMiB: 8192 } }).streams).toBe(4);
    expect(settings({ task: { cpu: 4096, memoryMiB: 8192 }, streams: 3 }).streams).toBe(3);
    expect(() => settings({ streams: 32 })).toThrow(
      "addDatabase('orders'): streams: must be at most 16; use 1 to 16 parallel pg_dump processes",
    );
  });

  it('names the call and the setting in its error, with the config file message', () => {
    expect(() =>
      parseDatabaseSettings(
        { database: 'orders', schedule: '0 2 * * *', timeZone: 'UTC', rpoHours: 26, hosts: 'x' },
        "addDatabase('orders')",
      ),
    ).toThrow(
      `addDatabase('orders') has 2 problems:\n  schedule: "0 2 * * *" is not an EventBridge Scheduler cron expression; write cron(minutes hours day-of-month month day-of-week year), e.g. "cron(0 2 * * ? *)"\n  hosts: is not a known setting; remove it or check its spelling`,
    );
  });
});
