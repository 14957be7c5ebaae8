import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import {
  DATABASE_TAG,
  databasePrefix,
  drillReportsPrefix,
  MANIFEST_FILE,
  TIER_TAG,
} from '../../core/layout.ts';
import { provenIndexKey } from '../../core/proven-backups.ts';

/** What bounds a backup runner's writes beyond its prefix. */
export interface BackupWriteOptions {
  /** The database's name in the key layout: the `pgproof:database` tag every object must carry. */
  readonly name: string;
  /**
   * The longest retention the runner may set on an object (its longest tier), in days: no Object Lock
   * longer than that, at creation or after.
   */
  readonly maxRetentionDays: number;
}

/**
 * A backup bucket and its key, and what each pgproof principal may do with them: every grant reads or
 * writes under one key prefix only and uses the key only through S3 (`kms:ViaService`).
 */
export interface IBackupVault {
  /** The backups. */
  readonly bucket: s3.IBucket;
  /** Encrypts every backup object. */
  readonly key: kms.IKey;
  /**
   * What the backup runner of one database does: write objects (single and multipart) and read them
   * back, under `databasePrefix` only; tag and lock an object only as it is created (an object that
   * already carries a tier tag cannot be retagged or relocked), with its own database tag and a
   * retention of at most `maxRetentionDays`; list the bucket, because S3 answers a HeadObject of a
   * missing manifest with 404 only to a caller allowed to list (403 otherwise); encrypt through S3.
   * No delete, no legal hold, no read of other prefixes.
   */
  grantBackupWrite(grantee: iam.IGrantable, databasePrefix: string, options: BackupWriteOptions): iam.Grant;
  /** Read (and decrypt) every backup under `prefix` (`BACKUP_PREFIX`): what a restore downloads. */
  grantRestoreRead(grantee: iam.IGrantable, prefix: string): iam.Grant;
  /** Write drill reports under `<prefix>drills/`, encrypted under the bucket's default key. */
  grantReportWrite(grantee: iam.IGrantable, prefix: string): iam.Grant;
  /**
   * What the restore drill task of one database does: list and read (and decrypt) that database's
   * backups only (`<prefix><name>/`), and write only its own reports (`<prefix>drills/<name>/`), with
   * one KMS statement for both. A drill restores an untrusted archive: its role must not reach any
   * other database's backups.
   */
  grantDrillTask(grantee: iam.IGrantable, prefix: string, name: string): iam.Grant;
  /** Read (and decrypt) drill reports under `<prefix>drills/`. */
  grantReportRead(grantee: iam.IGrantable, prefix: string): iam.Grant;
  /** List the backups under `prefix` and read (and decrypt) their manifests, to find a backup. */
  grantManifestRead(grantee: iam.IGrantable, prefix: string): iam.Grant;
  /** List the whole bucket (`s3:ListBucket` with no prefix condition). */
  grantList(grantee: iam.IGrantable): iam.Grant;
  /**
   * What keeping the last proven backups of `names` takes (functions/keep-proven-backup.ts): put and
   * release legal holds on those databases' backup objects (`<prefix><name>/*`) and list their versions
   * (for a manifest that names none); read their manifests; read and write their proven indexes
   * (`<prefix><name>.proven.json`) and nothing else; list the bucket, so that a missing index answers
   * 404, not 403; the key through S3. No delete, no retention, no tags, no backup data.
   */
  grantProvenBackups(grantee: iam.IGrantable, prefix: string, names: readonly string[]): iam.Grant;
}

/** Object actions under one key pattern, and what they need of the key. */
interface ObjectAccess {
  readonly actions: string[];
  readonly keyPattern: string;
  readonly keyActions: readonly string[];
}

// GetObjectVersion too: `pgproof restore` and `verify` read the exact versions a manifest names.
const restoreRead = (prefix: string): ObjectAccess => ({
  actions: ['s3:GetObject', 's3:GetObjectVersion'],
  keyPattern: `${prefix}*`,
  keyActions: ['kms:Decrypt'],
});
// A drill reads the exact versions its manifest names, as restores do.
const databaseRead = (prefix: string, name: string): ObjectAccess => ({
  actions: ['s3:GetObject', 's3:GetObjectVersion'],
  keyPattern: `${databasePrefix(prefix, name)}*`,
  keyActions: ['kms:Decrypt'],
});
// GenerateDataKey: a report is written under the bucket's default key.
const reportWrite = (prefix: string): ObjectAccess => ({
  actions: ['s3:PutObject'],
  keyPattern: `${drillReportsPrefix(prefix)}*`,
  keyActions: ['kms:GenerateDataKey'],
});
// The reports of one database: drillReportKey puts them under `<prefix>drills/<name>/`.
const databaseReportWrite = (prefix: string, name: string): ObjectAccess => ({
  ...reportWrite(prefix),
  keyPattern: `${drillReportsPrefix(prefix)}${name}/*`,
});
const reportRead = (prefix: string): ObjectAccess => ({
  actions: ['s3:GetObject'],
  keyPattern: `${drillReportsPrefix(prefix)}*`,
  keyActions: ['kms:Decrypt'],
});

/**
 * The grants of {@link IBackupVault} over any bucket and key: what `BackupVault` grants on its own
 * bucket, and what `BackupVault.fromBucketAndKey` grants on a bucket and key given as props.
 */
export class BackupVaultGrants implements IBackupVault {
  constructor(
    public readonly bucket: s3.IBucket,
    public readonly key: kms.IKey,
  ) {}

  grantBackupWrite(grantee: iam.IGrantable, databasePrefix: string, options: BackupWriteOptions): iam.Grant {
    const objects = [this.bucket.arnForObjects(`${databasePrefix}*`)];
    const retention = { 's3:object-lock-remaining-retention-days': options.maxRetentionDays };
    // Only an object without a tier tag yet, i.e. one being created: PutObject with tags or a lock
    // needs these two actions as well, and PutObjectTagging/PutObjectRetention on an existing
    // backup would retag its tier (expiring it early) or relock it.
    const notYetTagged = { [`s3:ExistingObjectTag/${TIER_TAG}`]: 'true' };
    return (
      this.grantObjects(grantee, ['s3:AbortMultipartUpload', 's3:GetObject'], `${databasePrefix}*`)
        .combine(
          iam.Grant.addToPrincipal({
            grantee,
            actions: ['s3:PutObject'],
            resourceArns: objects,
            conditions: { NumericLessThanEqualsIfExists: retention },
          }),
        )
        .combine(
          iam.Grant.addToPrincipal({
            grantee,
            actions: ['s3:PutObjectTagging'],
            resourceArns: objects,
            conditions: {
              Null: notYetTagged,
              StringEquals: { [`s3:RequestObjectTag/${DATABASE_TAG}`]: options.name },
            },
          }),
        )
        .combine(
          iam.Grant.addToPrincipal({
            grantee,
            actions: ['s3:PutObjectRetention'],
            resourceArns: objects,
            conditions: { Null: notYetTagged, NumericLessThanEquals: retention },
          }),
        )
        .combine(this.grantList(grantee))
        // SSE-KMS uploads need a data key (and Decrypt for multipart); never kms:Encrypt.
        .combine(this.grantKeyViaS3(grantee, ['kms:GenerateDataKey', 'kms:Decrypt']))
        // The runner checks the key is enabled before a dump that may run for hours (key-check.ts).
        .combine(
          iam.Grant.addToPrincipal({
            grantee,
            actions: ['kms:DescribeKey'],
            resourceArns: [this.key.keyArn],
          }),
        )
    );
  }

  grantRestoreRead(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return this.grantObjectsAndKey(grantee, [restoreRead(prefix)]);
  }

  grantReportWrite(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return this.grantObjectsAndKey(grantee, [reportWrite(prefix)]);
  }

  grantDrillTask(grantee: iam.IGrantable, prefix: string, name: string): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${databasePrefix(prefix, name)}*`] } },
    }).combine(
      this.grantObjectsAndKey(grantee, [databaseRead(prefix, name), databaseReportWrite(prefix, name)]),
    );
  }

  grantReportRead(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return this.grantObjectsAndKey(grantee, [reportRead(prefix)]);
  }

  grantManifestRead(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      ...(prefix ? { conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } } : {}),
    })
      .combine(this.grantObjects(grantee, ['s3:GetObject'], `${prefix}*/manifest.json`))
      .combine(this.grantKeyViaS3(grantee, ['kms:Decrypt']));
  }

  grantList(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
  }

  grantProvenBackups(grantee: iam.IGrantable, prefix: string, names: readonly string[]): iam.Grant {
    const folders = names.map((name) => databasePrefix(prefix, name));
    const objects = (pattern: (folder: string) => string) =>
      folders.map((folder) => this.bucket.arnForObjects(pattern(folder)));
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObjectLegalHold'],
      resourceArns: objects((folder) => `${folder}*`),
    })
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['s3:ListBucketVersions'],
          resourceArns: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': folders.map((folder) => `${folder}*`) } },
        }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['s3:GetObject'],
          resourceArns: objects((folder) => `${folder}*/${MANIFEST_FILE}`),
        }),
      )
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['s3:GetObject', 's3:PutObject'],
          resourceArns: names.map((name) => this.bucket.arnForObjects(provenIndexKey(prefix, name))),
        }),
      )
      .combine(this.grantList(grantee))
      .combine(this.grantKeyViaS3(grantee, ['kms:Decrypt', 'kms:GenerateDataKey']));
  }

  /** Each access's object statement, in order, then one KMS statement with all their key actions. */
  private grantObjectsAndKey(grantee: iam.IGrantable, accesses: readonly ObjectAccess[]): iam.Grant {
    return accesses
      .map((access) => this.grantObjects(grantee, access.actions, access.keyPattern))
      .reduce((all, grant) => all.combine(grant))
      .combine(this.grantKeyViaS3(grantee, [...new Set(accesses.flatMap((access) => access.keyActions))]));
  }

  private grantObjects(grantee: iam.IGrantable, actions: string[], keyPattern: string): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.bucket.arnForObjects(keyPattern)],
    });
  }

  /** The key, only through S3 in the bucket's region: the one KMS statement every grant shares. */
  private grantKeyViaS3(grantee: iam.IGrantable, actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this.bucket).region}.amazonaws.com` } },
    });
  }
}
