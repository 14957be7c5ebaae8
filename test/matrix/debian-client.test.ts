import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { toolchain } from '../../local/toolchain.ts';
import { systemBinDir } from '../support/postgres.ts';
import { describeVersionMatrix } from './version-matrix.ts';

// Debian's own client (15 on bookworm), against every supported server it can dump (majors up to its own).
const binDir = systemBinDir();
const version =
  execFileSync(join(binDir, 'pg_dump'), ['--version'], { encoding: 'utf8' }).split(' ')[2] ?? '';
const major = Number(version.split('.')[0]);

describeVersionMatrix(
  { label: `${version} (Debian)`, binDir },
  toolchain.postgresServerMajors.filter((m) => m <= major),
);
