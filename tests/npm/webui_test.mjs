// Drives the chat page of a running `lineage serve` in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core) the way a person
// would, and prints what it saw as JSON for tests/cli/test_webui.py to check.
//
//   node webui_test.mjs BASE_URL API_KEY OUT_DIR
//       writes OUT_DIR/webui.png (desktop) and OUT_DIR/webui-phone.png (390x844)
import { chromium } from "playwright-core";
import path from "node:path";

const [base, apiKey, outDir] = process.argv.slice(2);
const WAIT = { timeout: 60000 };
const out = { consoleErrors: [], pageErrors: [], phases: {} };
let phaseStart = Date.now();
// Milliseconds each part took, for whoever reads a slow run's output.
function phase(name) {
  const now = Date.now();
  out.phases[name] = now - phaseStart;
  phaseStart = now;
}

// What a hostile answer might hold; every payload would set window.__pwned.
const CRAFTED = [
  "# Report",
  "",
  "Some **bold**, *emphasis* and `inline code`.",
  "",
  "- first",
  "- second",
  "",
  '<img src=x onerror="window.__pwned=1">',
  "<script>window.__pwned=2</script>",
  '<a href="javascript:window.__pwned=3">raw anchor</a>',
  "[click me](javascript:window.__pwned=4) and [tabbed](java\tscript:window.__pwned=5)",
  "<javascript:window.__pwned=6> and [safe](https://example.com/a?b=1)",
  "",
  "```js",
  "console.log('<b>not bold</b>');",
  "```",
].join("\n");

function sseBody(text) {
  const chunk = (delta, finish) =>
    "data: " +
    JSON.stringify({
      id: "chatcmpl-canned",
      object: "chat.completion.chunk",
      created: 0,
      model: "canned",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      usage: null,
    }) +
    "\n\n";
  let body = chunk({ role: "assistant", content: "" }, null);
  // Small pieces split the tags across chunks, as a model's tokens would.
  for (let i = 0; i < text.length; i += 5) body += chunk({ content: text.slice(i, i + 5) }, null);
  body += chunk({}, "stop");
  body +=
    "data: " +
    JSON.stringify({ id: "chatcmpl-canned", object: "chat.completion.chunk", created: 0, model: "canned", choices: [],
      usage: { prompt_tokens: 7, completion_tokens: 42, total_tokens: 49 } }) +
    "\n\n";
  return body + "data: [DONE]\n\n";
}

const lastAnswer = ".msg.assistant:last-of-type";

async function titles(page) {
  return page.$$eval("#conversations .conv-title", (bs) => bs.map((b) => b.textContent));
}

async function storedChats(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("lineage.chats")));
}

async function openSettings(page, values) {
  await page.click("#open-settings");
  for (const [sel, v] of Object.entries(values)) await page.fill(sel, v);
  await page.click("#settings-save");
}

async function sendAndWait(page, text, state = "done") {
  const before = await page.locator(".msg.assistant").count();
  await page.fill("#input", text);
  await page.press("#input", "Enter");
  await page.locator(".msg.assistant").nth(before).waitFor(WAIT);
  await page.waitForFunction(
    ([n, s]) => document.querySelectorAll(".msg.assistant")[n]?.dataset.state === s,
    [before, state],
    WAIT,
  );
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"], headless: true });
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: "reduce" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && out.consoleErrors.push(m.text()));
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
  });
  const requests = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/v1/chat/completions")) requests.push({ body: r.postDataJSON(), auth: r.headers().authorization || "" });
  });

  phase("launch");
  // Without a key the page says it needs one; with it the model appears.
  const resp = await page.goto(base + "/");
  out.pageHeaders = resp.headers();
  await page.waitForSelector("#notice:not([hidden])", WAIT);
  out.keyNotice = await page.textContent("#notice-text");
  await openSettings(page, { "#set-api-key": apiKey, "#set-system": "A street in Verona.", "#set-temperature": "0", "#set-max-tokens": "24" });
  await page.waitForFunction(() => document.getElementById("model-name").textContent !== "", null, WAIT);
  out.model = await page.textContent("#model-name");
  out.noticeHiddenAfterKey = await page.isHidden("#notice");

  phase("key");
  // A real answer from the model, streamed.
  await sendAndWait(page, "Where is fair Juliet tonight?");
  out.greedy = {
    request: requests[requests.length - 1],
    stored: (await storedChats(page)).conversations[0],
    userText: await page.textContent(".msg.user .bubble"),
    answerText: await page.textContent(`${lastAnswer} .bubble`),
    stats: await page.$eval(`${lastAnswer} .stats`, (s) => ({ ...s.dataset, text: s.textContent })),
  };

  phase("greedy");
  // A long answer, stopped once some of it has appeared.
  await page.click("#new-chat");
  await openSettings(page, { "#set-max-tokens": "4000" });
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      const a = [...document.querySelectorAll(".msg.assistant")].pop();
      if (a) window.__seen.push([a.dataset.state, a.querySelector(".bubble").textContent.length]);
    }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
  });
  await page.fill("#input", "Tell me the whole story of the two houses.");
  await page.press("#input", "Enter");
  await page.waitForFunction(
    () => {
      const a = document.querySelector(".msg.assistant");
      return a && a.dataset.state === "streaming" && a.querySelector(".bubble").textContent.length > 40;
    },
    null,
    WAIT,
  );
  out.stopVisibleWhileStreaming = await page.isVisible("#stop");
  await page.click("#stop");
  await page.waitForSelector('.msg.assistant[data-state="stopped"]', WAIT);
  const lenAtStop = (await page.textContent(`${lastAnswer} .bubble`)).length;
  await page.waitForTimeout(300);
  out.stop = {
    seen: await page.evaluate(() => window.__seen),
    lenAtStop,
    lenLater: (await page.textContent(`${lastAnswer} .bubble`)).length,
    sendVisible: await page.isVisible("#send"),
    stopHidden: await page.isHidden("#stop"),
    tag: await page.textContent(`${lastAnswer} .meta`),
    storedState: (await storedChats(page)).conversations[1].messages[1].state,
    maxTokens: requests[requests.length - 1].body.max_tokens,
  };

  phase("stop");
  // Everything survives a reload.
  await page.reload();
  await page.waitForSelector("#conversations .conv", WAIT);
  out.titlesAfterReload = await titles(page);
  await page.click('#conversations .conv-title >> text="Where is fair Juliet tonight?"');
  out.reloaded = await page.$$eval(".msg", (ms) => ms.map((m) => ({ cls: m.className, text: m.querySelector(".bubble").textContent })));
  await page.screenshot({ path: path.join(outDir, "webui.png") });

  phase("reload");
  // Rename, then delete, each kept across a reload.
  const greedyConv = page.locator("#conversations .conv", { hasText: "Where is fair Juliet" });
  await greedyConv.locator(".rename").click();
  await page.fill(".rename-input", "Verona notes");
  await page.press(".rename-input", "Enter");
  out.titleAfterRename = await page.textContent("#chat-title");
  await page.reload();
  await page.waitForSelector("#conversations .conv", WAIT);
  out.titlesAfterRename = await titles(page);
  page.once("dialog", (d) => d.accept());
  await page.locator("#conversations .conv", { hasText: "two houses" }).locator(".delete").click();
  out.titlesAfterDelete = await titles(page);
  await page.reload();
  await page.waitForSelector("#conversations .conv", WAIT);
  out.titlesAfterDeleteReload = await titles(page);

  phase("renameDelete");
  // A hostile answer, served in place of the model's.
  await page.route("**/v1/chat/completions", (route) =>
    route.fulfill({ status: 200, headers: { "content-type": "text/event-stream" }, body: sseBody(CRAFTED) }),
  );
  await page.click("#new-chat");
  await sendAndWait(page, "Write a report.");
  const bubble = `${lastAnswer} .bubble`;
  out.crafted = await page.$eval(bubble, (b) => ({
    pwned: window.__pwned === undefined ? null : window.__pwned,
    csp: window.__csp,
    dangerous: document.querySelectorAll("#messages img, #messages script, #messages iframe, #messages object").length,
    text: b.textContent,
    links: [...b.querySelectorAll("a")].map((a) => ({ href: a.getAttribute("href"), rel: a.rel, text: a.textContent })),
    h1: [...b.querySelectorAll("h1")].map((h) => h.textContent),
    strong: [...b.querySelectorAll("strong")].map((h) => h.textContent),
    em: [...b.querySelectorAll("em")].map((h) => h.textContent),
    inlineCode: [...b.querySelectorAll("p code")].map((h) => h.textContent),
    items: [...b.querySelectorAll("ul > li")].map((h) => h.textContent),
    codeBlocks: [...b.querySelectorAll(".codeblock pre code")].map((h) => h.textContent),
    bold: b.querySelectorAll("b").length,
  }));
  await page.click(`${lastAnswer} .codeblock button.copy`);
  await page.waitForFunction(() => document.querySelector(".codeblock button.copy").textContent === "Copied", null, WAIT);
  out.crafted.clipboard = await page.evaluate(() => navigator.clipboard.readText());
  await page.unroute("**/v1/chat/completions");

  phase("crafted");
  // A phone-sized screen: the list slides in over the chat.
  await page.setViewportSize({ width: 390, height: 844 });
  const box = async (sel) => page.$eval(sel, (e) => e.getBoundingClientRect().toJSON());
  out.phone = {
    scrollWidth: await page.evaluate(() => document.documentElement.scrollWidth),
    sidebarClosed: await box("#sidebar"),
    toggleVisible: await page.isVisible("#toggle-sidebar"),
  };
  await page.click("#toggle-sidebar");
  out.phone.sidebarOpen = await box("#sidebar");
  await page.click('#conversations .conv-title >> text="Verona notes"');
  out.phone.sidebarClosedAgain = await box("#sidebar");
  out.phone.title = await page.textContent("#chat-title");
  out.phone.composer = await box("#composer");
  out.phone.send = await box("#send");
  out.phone.scrollWidthInChat = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: path.join(outDir, "webui-phone.png") });
  phase("phone");
  out.requests = requests.length;
  out.cspAtEnd = await page.evaluate(() => window.__csp);
  await context.close();
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
