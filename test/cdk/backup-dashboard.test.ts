import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import { BackupDashboard, type DashboardDatabase } from '../../cdk/constructs/backup-dashboard.ts';
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

  describe('databases and alarms added after construction', () => {
    const logGroups = (scope: Stack) =>
      ['orders', 'billing'].map((name) => ({ name, logGroup: new logs.LogGroup(scope, `${name}Logs`) }));
    const alarm = (scope: Stack, id: string) =>
      new cloudwatch.Alarm(scope, id, {
        metric: new cloudwatch.Metric({ namespace: 'Test', metricName: id }),
        threshold: 1,
        evaluationPeriods: 1,
      });
    const bodyOf = (scope: Stack) =>
      Object.values(Template.fromStack(scope).findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties
        .DashboardBody;

    it('shows the same dashboard as databases and alarms given in the props', () => {
      const given = stack();
      new BackupDashboard(given, 'Dashboard', {
        databases: logGroups(given),
        alarms: [alarm(given, 'First'), alarm(given, 'Second')],
      });
      const added = stack();
      const dashboard = new BackupDashboard(added, 'Dashboard');
      const [orders, billing] = logGroups(added);
      const [first, second] = [alarm(added, 'First'), alarm(added, 'Second')];
      dashboard.addDatabase(orders as DashboardDatabase);
      dashboard.addAlarms(first);
      dashboard.addDatabase(billing as DashboardDatabase);
      dashboard.addAlarms(second);
      // The body is one string: widgets, their positions and the order of their lines all count.
      expect(bodyOf(added)).toEqual(bodyOf(given));
    });

    it('shows no alarm widget, and takes no room for one, until an alarm is added', () => {
      const without = stack();
      new BackupDashboard(without, 'Dashboard', { databases: logGroups(without) });
      const body = JSON.stringify(bodyOf(without));
      expect(body).not.toContain('\\"type\\":\\"alarm\\"');
      expect(body).toContain('\\"type\\":\\"log\\",\\"width\\":24,\\"height\\":6,\\"x\\":0,\\"y\\":0');
    });
  });
});
