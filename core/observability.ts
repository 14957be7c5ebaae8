import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, SERVICE_NAME } from './telemetry.ts';

/**
 * The one logger/metrics setup of every pgproof process (runners and Lambdas):
 * JSON logs and CloudWatch EMF metrics on stdout, under one service name and namespace.
 */

/** A JSON logger; `component` tells runners and functions apart in one log search. */
export function createLogger(component: string): Logger {
  return new Logger({ serviceName: SERVICE_NAME, persistentKeys: { component } });
}

/** An EMF metrics publisher in pgproof's namespace. */
export function createMetrics(): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
}
