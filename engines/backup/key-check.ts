import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { StorageError } from '../../core/errors.ts';

/**
 * Before a dump that may run for hours, the backup's KMS key is checked to be usable: a disabled key, or
 * one scheduled for deletion, would otherwise fail the upload only at its first part, or worse, encrypt a
 * backup nobody will be able to read. The check costs one DescribeKey call.
 */

/** What fixes a key in each state KMS reports. */
const FIXES: Record<string, string> = {
  Disabled: 'enable the key',
  PendingDeletion:
    'cancel its deletion (kms:CancelKeyDeletion), then enable it; every backup under it depends on it',
  PendingReplicaDeletion: 'cancel its deletion, then enable it',
  PendingImport: 'import its key material',
  Unavailable: "restore its custom key store's connection",
};

/** What fixes a DescribeKey call KMS refused, by the error's name. */
const CALL_FIXES: Record<string, string> = {
  AccessDeniedException: "grant the task role kms:DescribeKey on the key (pgproof's stacks do)",
  NotFoundException: "check KMS_KEY_ID (the vault key's ARN)",
};

/** Fails, naming the key, its state and the fix, unless KMS says the key is enabled. */
export async function assertKeyUsable(kms: KMSClient, keyId: string): Promise<void> {
  let state: string | undefined;
  try {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    state = KeyMetadata?.KeyState;
  } catch (error) {
    const name = error instanceof Error ? error.name : String(error);
    const fix = CALL_FIXES[name] ?? 'check the network path to KMS (its VPC endpoint or NAT) and try again';
    throw new StorageError(
      `cannot check KMS key ${keyId} before the dump (${name}: ${error instanceof Error ? error.message : ''}); ${fix}`,
      { cause: error },
    );
  }
  if (state !== 'Enabled') {
    throw new StorageError(
      `KMS key ${keyId} is ${state ?? 'in no known state'}: no backup can be encrypted with it, so none was started; ${FIXES[state ?? ''] ?? 'make the key usable again'}`,
    );
  }
}
