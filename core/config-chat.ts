import { z } from 'zod';
import { arnOf, flag, text } from './config-fields.ts';

/**
 * The config's `chat`: where pgproof's events go besides the default event bus — a Slack channel or a
 * Microsoft Teams channel through AWS Chatbot, and webhooks through EventBridge API destinations.
 */

const slackSchema = z
  .object(
    {
      workspaceId: text('give the Slack workspace id AWS Chatbot shows, e.g. "T0123ABCD"').regex(
        /^[A-Z0-9]+$/,
        'must be a Slack workspace id of capital letters and digits, e.g. "T0123ABCD"; authorize the workspace in the AWS Chatbot console first',
      ),
      channelId: text('give the Slack channel id, e.g. "C0123ABCD"').regex(
        /^[A-Z0-9]+$/,
        'must be a Slack channel id of capital letters and digits, e.g. "C0123ABCD" (the channel\'s details show it)',
      ),
    },
    { error: 'must be an object like { "workspaceId": "T0123ABCD", "channelId": "C0123ABCD" }' },
  )
  .strict();

const uuid = (what: string) =>
  text(`give the ${what}, a UUID`).regex(
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
    `must be the ${what}, a UUID like "00000000-0000-0000-0000-000000000000"`,
  );

const teamsSchema = z
  .object(
    {
      teamId: uuid('Microsoft Teams team id'),
      tenantId: uuid('Microsoft Entra tenant id'),
      channelId: text('give the Teams channel id from its link, URL-encoded').regex(
        /%3a.*%40/i,
        'must be the channel id as it appears URL-encoded in the channel\'s link, e.g. "19%3a0123abcd%40thread.tacv2"',
      ),
    },
    {
      error:
        'must be an object like { "teamId": "<uuid>", "tenantId": "<uuid>", "channelId": "19%3a...%40thread.tacv2" }',
    },
  )
  .strict();

const webhookSchema = z
  .object(
    {
      name: text('name the webhook, e.g. "pager"').regex(
        /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/,
        'must be up to 40 letters, digits, "_" or "-", starting with a letter or digit, e.g. "pager"',
      ),
      url: text('give the HTTPS address events are posted to').regex(
        /^https:\/\/[^\s]+$/,
        'must be an https:// address; the events are posted to it as JSON',
      ),
      authorizationSecretArn: arnOf(
        'Secrets Manager secret',
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgproof/pager-AbCdEf',
      ).optional(),
    },
    { error: 'must be an object like { "name": "pager", "url": "https://..." }' },
  )
  .strict();

/** Slack, Teams and webhooks that receive pgproof's events; by default failures and overdue only. */
export const chatSchema = z
  .object(
    {
      slack: slackSchema.optional(),
      teams: teamsSchema.optional(),
      webhooks: z.array(webhookSchema, { error: 'must be a list of webhooks' }).default([]),
      includeSuccesses: flag('true also sends each backup that succeeded and drill that passed').default(
        false,
      ),
    },
    { error: 'must be an object like { "slack": { "workspaceId": "...", "channelId": "..." } }' },
  )
  .strict();

/** The validated `chat`. */
export type ChatConfig = z.infer<typeof chatSchema>;
