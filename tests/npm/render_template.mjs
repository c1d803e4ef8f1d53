// Renders chat templates with @huggingface/jinja, the Jinja that
// transformers.js uses (trim_blocks and lstrip_blocks on, as in
// apply_chat_template): the reference for lineage's template renderer.
//
//   node render_template.mjs TEMPLATE_FILE CONTEXT_JSON
//       prints the rendering, nothing added; exit 1 with "error: ..." if the
//       template raises.
//   node render_template.mjs --batch CASES_JSON OUT_JSON
//       CASES_JSON: [{"id", "template" (file path), "context" (object)}];
//       writes [{"id", "ok", "output" | "error"}] in the same order.
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

function render(source, context) {
  return new Template(source).render(context);
}

const args = process.argv.slice(2);
if (args[0] === "--batch" && args.length === 3) {
  const cases = JSON.parse(readFileSync(args[1], "utf8"));
  const sources = new Map();
  const results = cases.map((c) => {
    if (!sources.has(c.template)) sources.set(c.template, readFileSync(c.template, "utf8"));
    try {
      return { id: c.id, ok: true, output: render(sources.get(c.template), c.context) };
    } catch (e) {
      return { id: c.id, ok: false, error: String(e && e.message ? e.message : e) };
    }
  });
  writeFileSync(args[2], JSON.stringify(results));
} else if (args.length === 2) {
  try {
    process.stdout.write(render(readFileSync(args[0], "utf8"), JSON.parse(readFileSync(args[1], "utf8"))));
  } catch (e) {
    process.stderr.write(`error: ${e && e.message ? e.message : e}\n`);
    process.exit(1);
  }
} else {
  process.stderr.write("usage: render_template.mjs TEMPLATE CONTEXT | --batch CASES OUT\n");
  process.exit(2);
}
