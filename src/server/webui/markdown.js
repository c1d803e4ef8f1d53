// A small Markdown renderer for model answers. It builds DOM nodes with
// createElement and text nodes only, so whatever the model writes (HTML
// tags included) can only ever become text; links are made only for
// http:, https: and mailto: addresses.
//
// Blocks: paragraphs (a single newline is a line break), ATX headings,
// fenced code (an unclosed fence runs to the end, as while streaming),
// bullet and numbered lists (nested by indentation), block quotes and
// rules. Inline: code spans, **strong**, *emphasis*, ~~strike~~, [links](url),
// <autolinks>, bare http(s) URLs and backslash escapes.

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}>[ \t]?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const PUNCT = /[!-/:-@[-`{-~]/;
const WORD = /[\p{L}\p{N}]/u;

function el(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}

// The address a link may point to, or null: only absolute http:, https: and
// mailto: URLs pass. The URL parser drops tabs and newlines the way the
// browser would, so "java\tscript:" is seen as what it is.
export function safeHref(raw) {
  let url;
  try {
    url = new URL(raw.trim());
  } catch {
    return null;
  }
  return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
}

function link(href, parent) {
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  parent.appendChild(a);
  return a;
}

function isBlank(line) {
  return line.trim() === "";
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

function indentOf(line) {
  return line.length - line.trimStart().length;
}

// Renders src into a new DocumentFragment.
export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  blocks(src.replace(/\r\n?/g, "\n").split("\n"), frag);
  return frag;
}

function blocks(lines, parent) {
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i++;
      continue;
    }
    let m;
    if ((m = FENCE.exec(line))) {
      i = codeBlock(lines, i, m, parent);
    } else if ((m = HEADING.exec(line))) {
      inline(m[2] || "", parent.appendChild(el("h" + m[1].length)));
      i++;
    } else if (RULE.test(line)) {
      parent.appendChild(el("hr"));
      i++;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ""));
      blocks(inner, parent.appendChild(el("blockquote")));
    } else if ((m = ITEM.exec(line))) {
      i = list(lines, i, parent);
    } else {
      const para = [];
      while (i < lines.length && !isBlank(lines[i]) && (para.length === 0 || !startsBlock(lines[i])))
        para.push(lines[i++].trim());
      const p = parent.appendChild(el("p"));
      para.forEach((text, k) => {
        if (k > 0) p.appendChild(el("br"));
        inline(text, p);
      });
    }
  }
}

function codeBlock(lines, i, m, parent) {
  const fence = m[1];
  const close = new RegExp("^ {0,3}" + (fence[0] === "`" ? "`" : "~") + "{" + fence.length + ",}[ \\t]*$");
  const body = [];
  i++;
  while (i < lines.length && !close.test(lines[i])) body.push(lines[i++]);
  if (i >= lines.length) while (body.length && isBlank(body[body.length - 1])) body.pop();  // still streaming
  const box = parent.appendChild(el("div"));
  box.className = "codeblock";
  const head = box.appendChild(el("div"));
  head.className = "code-head";
  head.appendChild(el("span", m[2] || "text")).className = "lang";
  const copy = head.appendChild(el("button", "Copy"));
  copy.type = "button";
  copy.className = "copy";
  box.appendChild(el("pre")).appendChild(el("code", body.join("\n")));
  return i + 1;  // past the closing fence (or the end)
}

function list(lines, i, parent) {
  const first = ITEM.exec(lines[i]);
  const base = first[1].length;
  const ordered = /\d/.test(first[2]);
  const listEl = parent.appendChild(el(ordered ? "ol" : "ul"));
  if (ordered && parseInt(first[2], 10) !== 1) listEl.start = parseInt(first[2], 10);
  let item = null;  // the lines of the current item
  let contentIndent = 0;
  let blankBefore = false;
  const flush = () => {
    if (item) blocks(item, listEl.appendChild(el("li")));
  };
  while (i < lines.length) {
    const line = lines[i];
    const m = ITEM.exec(line);
    if (m && m[1].length <= base + 1 && m[1].length >= base) {
      if (/\d/.test(m[2]) !== ordered) break;
      flush();
      item = [m[3] || ""];
      contentIndent = m[1].length + m[2].length + 1;
      blankBefore = false;
    } else if (isBlank(line)) {
      // The list goes on only if an indented line or another item follows.
      let j = i + 1;
      while (j < lines.length && isBlank(lines[j])) j++;
      if (j >= lines.length) break;
      const next = ITEM.exec(lines[j]);
      if (indentOf(lines[j]) <= base && !(next && next[1].length <= base + 1)) break;
      item.push("");
      blankBefore = true;
    } else if (indentOf(line) > base) {
      item.push(line.slice(Math.min(indentOf(line), contentIndent)));
    } else if (!blankBefore && !startsBlock(line)) {
      item.push(line.trim());  // a lazy continuation of the item's paragraph
    } else {
      break;
    }
    i++;
  }
  flush();
  return i;
}

// Inline spans of text, appended to parent.
function inline(text, parent) {
  let buf = "";
  const flush = () => {
    if (buf) parent.appendChild(document.createTextNode(buf));
    buf = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && PUNCT.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      const n = runLength(text, i, c);
      const close = findRun(text, i + n, "`", n);
      if (close >= 0) {
        flush();
        let code = text.slice(i + n, close);
        if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ")) code = code.slice(1, -1);
        parent.appendChild(el("code", code));
        i = close + n;
      } else {
        buf += text.slice(i, i + n);
        i += n;
      }
      continue;
    }
    if (c === "*" || c === "_" || c === "~") {
      const used = emphasis(text, i, parent, flush);
      if (used > 0) {
        i += used;
      } else {
        const n = runLength(text, i, c);
        buf += text.slice(i, i + n);
        i += n;
      }
      continue;
    }
    if (c === "[") {
      const used = bracketLink(text, i, parent, flush);
      if (used > 0) {
        i += used;
        continue;
      }
    }
    if (c === "<") {
      const m = /^<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]*)>/.exec(text.slice(i));
      const href = m && safeHref(m[1]);
      if (href) {
        flush();
        link(href, parent).textContent = m[1];
        i += m[0].length;
        continue;
      }
    }
    if ((c === "h" || c === "H") && (i === 0 || !/[\p{L}\p{N}/]/u.test(text[i - 1]))) {
      const m = /^https?:\/\/[^\s<>]+/i.exec(text.slice(i));
      if (m) {
        const url = trimUrl(m[0]);
        const href = safeHref(url);
        if (href) {
          flush();
          link(href, parent).textContent = url;
          i += url.length;
          continue;
        }
      }
    }
    buf += c;
    i++;
  }
  flush();
}

function runLength(text, i, c) {
  let n = 0;
  while (text[i + n] === c) n++;
  return n;
}

// The start of the next run of exactly n c's at or after from, or -1.
function findRun(text, from, c, n) {
  for (let j = text.indexOf(c, from); j >= 0; j = text.indexOf(c, j + 1)) {
    const len = runLength(text, j, c);
    if (len === n) return j;
    j += len - 1;
  }
  return -1;
}

// Emphasis opened at i: appends it and returns the characters it used, or 0.
function emphasis(text, i, parent, flush) {
  const c = text[i];
  const n = runLength(text, i, c);
  if (n > 3 || (c === "~" && n !== 2)) return 0;
  const after = text[i + n];
  if (after === undefined || /\s/.test(after)) return 0;
  if (c === "_" && i > 0 && WORD.test(text[i - 1])) return 0;  // snake_case stays
  const delim = c.repeat(n);
  for (let j = text.indexOf(delim, i + n); j >= 0; j = text.indexOf(delim, j + 1)) {
    if (text[j - 1] === c || text[j + n] === c) continue;
    if (/\s/.test(text[j - 1])) continue;
    if (c === "_" && j + n < text.length && WORD.test(text[j + n])) continue;
    if (j === i + n) return 0;
    flush();
    let outer;
    let inner;
    if (c === "~") {
      outer = inner = el("del");
    } else if (n === 3) {
      outer = el("strong");
      inner = outer.appendChild(el("em"));
    } else {
      outer = inner = el(n === 2 ? "strong" : "em");
    }
    parent.appendChild(outer);
    inline(text.slice(i + n, j), inner);
    return j + n - i;
  }
  return 0;
}

// [label](url) at i. A safe url becomes a link; any other (javascript:,
// data:, relative) leaves the whole source as plain text.
function bracketLink(text, i, parent, flush) {
  let depth = 0;
  let close = -1;
  for (let j = i; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === "[") depth++;
    else if (text[j] === "]" && --depth === 0) {
      close = j;
      break;
    }
  }
  if (close < 0 || text[close + 1] !== "(") return 0;
  let end = -1;
  depth = 0;
  for (let j = close + 1; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === "(") depth++;
    else if (text[j] === ")" && --depth === 0) {
      end = j;
      break;
    }
  }
  if (end < 0) return 0;
  const label = text.slice(i + 1, close);
  let dest = text.slice(close + 2, end).trim().split(/\s+/)[0] || "";
  if (dest.startsWith("<") && dest.endsWith(">")) dest = dest.slice(1, -1);
  flush();
  const href = safeHref(dest);
  if (href) inline(label, link(href, parent));
  else parent.appendChild(document.createTextNode(text.slice(i, end + 1)));
  return end + 1 - i;
}

// A bare URL without the punctuation that ends the sentence around it.
function trimUrl(url) {
  for (;;) {
    const last = url[url.length - 1];
    if (".,;:!?'\"*_~".includes(last)) {
      url = url.slice(0, -1);
    } else if (last === ")" && url.split("(").length < url.split(")").length) {
      url = url.slice(0, -1);
    } else {
      return url;
    }
  }
}
