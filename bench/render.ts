import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { describeDataSet } from './dataset.ts';
import { renderMarkdown } from './markdown.ts';
import { withStreamModel } from './model.ts';
import { type BenchResults, targetRatios } from './results.ts';

/**
 * `npx tsx bench/render.ts <results.json> <RESULTS.md>`: writes a RESULTS.md again from the raw results of
 * an earlier run, with what the report derives from them (the data set's description, the ratios against
 * today's targets, the stream model) derived anew, so a change to the report needs no new measurement.
 */

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: npx tsx bench/render.ts <results.json> <RESULTS.md>\n');
  process.exit(2);
}
const results = JSON.parse(await readFile(input, 'utf8')) as BenchResults;
const scales = results.scales.map(({ dataSet, ...scale }) =>
  withStreamModel(
    {
      ...scale,
      // Targets are the report's: today's, on the rounds as measured.
      ratios: targetRatios(scale.variants),
      dataSet: {
        ...dataSet,
        description: describeDataSet(dataSet.kind, dataSet.scale, dataSet.tables, dataSet.rows),
      },
    },
    results.machine.cores,
    results.options.streams,
  ),
);
await writeFile(output, renderMarkdown({ ...results, scales }, basename(input)));
