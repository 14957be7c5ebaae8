import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { toolchain } from '../../local/toolchain.ts';
import { describeVersionMatrix } from './version-matrix.ts';

// The client the image ships (scripts/toolchain.json), against every supported server major.
const binDir = process.env.PGPROOF_PRODUCTION_CLIENT_BIN_DIR;
if (!binDir) throw new Error('the vitest global setup (test/support/toolchain-setup.ts) did not run');
const version = execFileSync(join(binDir, 'pg_dump'), ['--version'], { encoding: 'utf8' }).split(' ')[2];

describeVersionMatrix({ label: `${version} (production)`, binDir }, toolchain.postgresServerMajors);
