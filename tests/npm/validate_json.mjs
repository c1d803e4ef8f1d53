// The JSON Schema oracle for structured output: reads [{schema, text}] as
// JSON on stdin and prints, per item, whether text parses as JSON
// (JSON.parse) and validates against schema (ajv with ajv-formats' full
// formats), with ajv's errors when it does not.
//
//   node validate_json.mjs < items.json
import Ajv from "ajv";
import addFormats from "ajv-formats";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const items = JSON.parse(input);
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv, { mode: "full" });
const out = items.map(({ schema, text }) => {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { parsed: false, valid: false, error: String(e) };
  }
  const validate = ajv.compile(schema);
  const valid = validate(doc);
  return { parsed: true, valid, errors: valid ? null : validate.errors };
});
process.stdout.write(JSON.stringify(out));
