// Checks the answers `lineage batch --json-schema` wrote against the schema
// with Ajv (JSON Schema draft 2020-12 / draft-07 keywords, formats on).
//
//   node batch_validate.mjs SCHEMA_JSON OUTPUT_JSONL
//       prints {"rows": N, "invalid": [{"id", "errors"}]}; exit 0 when every
//       row's answer validates, 1 otherwise.
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const [schemaPath, outputPath] = process.argv.slice(2);
if (!schemaPath || !outputPath) {
  process.stderr.write("usage: batch_validate.mjs SCHEMA OUTPUT\n");
  process.exit(2);
}
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
const lines = readFileSync(outputPath, "utf8").split("\n").filter((l) => l.length > 0);
const invalid = [];
for (const line of lines) {
  const row = JSON.parse(line);
  if (!validate(row.answer)) invalid.push({ id: row.id, errors: validate.errors });
}
process.stdout.write(JSON.stringify({ rows: lines.length, invalid }) + "\n");
process.exit(invalid.length === 0 ? 0 : 1);
