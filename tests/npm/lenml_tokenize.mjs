// Tokenizes many strings with @lenml/tokenizers (a port of the Hugging Face
// tokenizers) in one process. stdin: {"dir": tokenizer directory holding
// tokenizer.json and tokenizer_config.json, "texts": [...]}; stdout: one
// JSON list of id lists, no special tokens added, special-token text parsed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const input = JSON.parse(readFileSync(0, "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(input.dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(input.dir, "tokenizer_config.json"), "utf8")),
});
const out = input.texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: false })));
process.stdout.write(JSON.stringify(out));
