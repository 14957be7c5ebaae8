import { Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { BackupDashboard } from '../../cdk/constructs/backup-dashboard.ts';
import { RESTORE_PHASES } from '../../core/drill-report.ts';
import { bareStacks } from './bare-stack.ts';

const stack = bareStacks();

describe('BackupDashboard', () => {
  const template = () => {
    const scope = stack();
    new BackupDashboard(scope, 'Dashboard', {
      databases: ['orders', 'billing'].map((name) => ({
        name,
        logGroup: new logs.LogGroup(scope, `${name}Logs`),
      })),
    });
    return Template.fromStack(scope);
  };
  /** The one resource of `type` whose logical id contains `fragment`. */
  const resource = (type: string, fragment: string) => {
    const matches = Object.entries(template().findResources(type)).filter(([id]) => id.includes(fragment));
    expect(matches.map(([id]) => id)).toHaveLength(1);
    return matches[0]?.[1] as { Properties: Record<string, unknown> };
  };

  it('shows last backup, size and duration per database on a dashboard', () => {
    const body = JSON.stringify(resource('AWS::CloudWatch::Dashboard', 'Dashboard').Properties.DashboardBody);
    for (const text of [
      'BackupSucceeded = 1',
      'lastSuccessfulBackup',
      'BackupBytes',
      'BackupDurationSeconds',
      '"orders"',
      '"billing"',
    ]) {
      expect(body).toContain(text.replaceAll('"', '\\"'));
    }
  });

  it("shows each database's restore drills by phase, from the metrics the restore runner publishes", () => {
    const body = JSON.stringify(resource('AWS::CloudWatch::Dashboard', 'Dashboard').Properties.DashboardBody);
    for (const name of ['orders', 'billing']) {
      expect(body).toContain(`Restore drill of ${name} by phase (seconds)`);
    }
    for (const { phase, metric } of RESTORE_PHASES.filter((p) => p.phase !== 'total')) {
      expect(body).toContain(
        `\\"${metric}\\",\\"Database\\",\\"orders\\",\\"service\\",\\"pgproof\\",{\\"label\\":\\"${phase}\\"`,
      );
    }
    expect(body).not.toContain('RestoreTotalSeconds');
  });
});
