// Run the reference CQL engine (fqm-execution) on eCQM patient bundles; see tools/ecqm_reference.py.
// Usage: NODE_PATH=<folder>/node_modules node ecqm_reference.mjs JOB.json OUT.json
// JOB: {"measure_bundle": PATH, "start": "2025-01-01", "end": "2025-12-31", "patients": {KEY: PATH}}
// OUT: {KEY: [{population code: count}, ...one per group] | {"error": message}}
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(`${process.env.NODE_PATH}/`);
const { Calculator } = require('fqm-execution');

const [jobPath, outPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const measureBundle = JSON.parse(readFileSync(job.measure_bundle, 'utf8'));
const options = {
  measurementPeriodStart: job.start,
  measurementPeriodEnd: job.end,
  reportType: 'individual',
  calculateSDEs: false,
  calculateHTML: false,
  // careloop (like the test decks) does not require meta.profile on the patient's resources.
  trustMetaProfile: false,
};

const counts = (report) =>
  report.group.map((group) =>
    Object.fromEntries(group.population.map((p) => [p.code.coding[0].code, p.count])),
  );
const patientId = (bundle) =>
  bundle.entry.map((e) => e.resource).find((r) => r.resourceType === 'Patient').id;

const keys = Object.keys(job.patients);
const bundles = keys.map((key) => JSON.parse(readFileSync(job.patients[key], 'utf8')));
const ids = bundles.map(patientId);
const out = {};
let batched = false;
if (new Set(ids).size === ids.length) {
  try {
    const { results } = await Calculator.calculateMeasureReports(measureBundle, bundles, options);
    const bySubject = new Map(results.map((r) => [r.subject.reference.split('/').pop(), r]));
    keys.forEach((key, i) => { out[key] = counts(bySubject.get(ids[i])); });
    batched = true;
  } catch (error) {
    batched = false;
  }
}
if (!batched) {
  for (const [i, key] of keys.entries()) {
    try {
      const { results } = await Calculator.calculateMeasureReports(measureBundle, [bundles[i]], options);
      out[key] = counts(results[0]);
    } catch (error) {
      out[key] = { error: String(error && error.message ? error.message : error) };
    }
  }
}
writeFileSync(outPath, JSON.stringify(out));
