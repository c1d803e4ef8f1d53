// The chat page: conversations in the sidebar, the open one in the middle,
// answers streamed from /v1/chat/completions and rendered as Markdown.
import { ApiError, listModels, streamChat } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
const ui = {
  sidebar: $("sidebar"),
  scrim: $("scrim"),
  toggle: $("toggle-sidebar"),
  list: $("conversations"),
  newChat: $("new-chat"),
  title: $("chat-title"),
  model: $("model-name"),
  notice: $("notice"),
  noticeText: $("notice-text"),
  messages: $("messages"),
  empty: $("empty"),
  composer: $("composer"),
  input: $("input"),
  send: $("send"),
  stop: $("stop"),
  settings: $("settings"),
  settingsForm: $("settings-form"),
  system: $("set-system"),
  temperature: $("set-temperature"),
  maxTokens: $("set-max-tokens"),
  apiKey: $("set-api-key"),
};

const chats = store.loadChats();
let settings = store.loadSettings();
let apiKey = store.loadApiKey();
let modelId = "";
// The answer being streamed: {conv, msg, controller, bubble, meta}.
let live = null;
let renderQueued = false;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function current() {
  return chats.conversations.find((c) => c.id === chats.current) || null;
}

function persist() {
  if (!store.saveChats(chats)) showNotice("Could not save the conversations: the browser's storage is full or off.", false);
}

function newId() {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function showNotice(text, withSettings) {
  ui.noticeText.textContent = text;
  $("notice-settings").hidden = !withSettings;
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
}

// --- the conversation list ---

function renderList() {
  const sorted = [...chats.conversations].sort((a, b) => b.updated - a.updated);
  ui.list.replaceChildren(
    ...sorted.map((c) => {
      const li = el("li", c.id === chats.current ? "conv active" : "conv");
      li.dataset.id = c.id;
      const open = li.appendChild(el("button", "conv-title", c.title));
      open.type = "button";
      open.title = c.title;
      open.addEventListener("click", () => selectConversation(c.id));
      const rename = li.appendChild(el("button", "icon rename", "\u270e"));
      rename.type = "button";
      rename.title = "Rename";
      rename.setAttribute("aria-label", "Rename");
      rename.addEventListener("click", () => startRename(li, c));
      const del = li.appendChild(el("button", "icon delete", "\u2715"));
      del.type = "button";
      del.title = "Delete";
      del.setAttribute("aria-label", "Delete");
      del.addEventListener("click", () => deleteConversation(c));
      return li;
    }),
  );
}

function startRename(li, conv) {
  const input = el("input", "rename-input");
  input.value = conv.title;
  input.setAttribute("aria-label", "New name");
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = (keep) => {
    if (done) return;
    done = true;
    const name = input.value.trim();
    if (keep && name) {
      conv.title = name.slice(0, 200);
      persist();
    }
    renderList();
    renderTitle();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish(true);
    else if (e.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
}

function deleteConversation(conv) {
  if (!confirm('Delete "' + conv.title + '"?')) return;
  if (live && live.conv === conv) live.controller.abort();
  chats.conversations = chats.conversations.filter((c) => c !== conv);
  if (chats.current === conv.id) chats.current = null;
  persist();
  renderAll();
}

function selectConversation(id) {
  chats.current = id;
  persist();
  renderAll();
  closeSidebar();
}

function newConversation() {
  chats.current = null;
  persist();
  renderAll();
  closeSidebar();
  ui.input.focus();
}

// --- the open conversation ---

function renderTitle() {
  const c = current();
  ui.title.textContent = c ? c.title : "New chat";
}

function statsText(m) {
  const s = m.stats;
  if (!s) return "";
  const parts = [s.prompt + " prompt tokens", s.completion + " generated"];
  if (s.tokensPerSecond) parts.push(s.tokensPerSecond.toFixed(1) + " tokens/s");
  if (s.firstTokenMs !== undefined) parts.push("first token " + (s.firstTokenMs / 1000).toFixed(2) + " s");
  return parts.join(" \u00b7 ");
}

function fillMeta(meta, m) {
  meta.replaceChildren();
  if (m.state === "stopped") meta.appendChild(el("span", "tag", "stopped"));
  if (m.state === "error") meta.appendChild(el("span", "error", m.error || "failed"));
  if (m.stats) {
    const s = meta.appendChild(el("span", "stats", statsText(m)));
    s.dataset.promptTokens = m.stats.prompt;
    s.dataset.completionTokens = m.stats.completion;
  }
}

function messageView(m) {
  const art = el("article", "msg " + m.role);
  art.dataset.state = m.state || "done";
  const bubble = art.appendChild(el("div", "bubble"));
  if (m.role === "assistant") bubble.appendChild(renderMarkdown(m.content));
  else bubble.textContent = m.content;
  const meta = art.appendChild(el("div", "meta"));
  fillMeta(meta, m);
  return { art, bubble, meta };
}

function renderMessages() {
  const c = current();
  const views = [];
  if (c) {
    for (const m of c.messages) {
      const v = messageView(m);
      views.push(v.art);
      if (live && live.msg === m) {
        live.art = v.art;
        live.bubble = v.bubble;
        live.meta = v.meta;
      }
    }
  }
  ui.empty.hidden = views.length > 0;
  ui.messages.replaceChildren(ui.empty, ...views);
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function renderAll() {
  renderList();
  renderTitle();
  renderMessages();
  const streaming = live !== null;
  ui.send.hidden = streaming;
  ui.stop.hidden = !streaming;
}

// Streams re-render the answer at most once a frame.
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    if (!live || !live.bubble || !live.bubble.isConnected) return;
    const box = ui.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    live.bubble.replaceChildren(renderMarkdown(live.msg.content));
    if (atBottom) box.scrollTop = box.scrollHeight;
  });
}

function requestMessages(conv, upTo) {
  const out = [];
  if (settings.system.trim()) out.push({ role: "system", content: settings.system });
  for (const m of conv.messages) {
    if (m === upTo) break;
    if (m.state === "error" || (m.role === "assistant" && m.content === "")) continue;
    out.push({ role: m.role, content: m.content });
  }
  return out;
}

async function send(text) {
  let conv = current();
  if (!conv) {
    const now = Date.now();
    conv = { id: newId(), title: text.replace(/\s+/g, " ").trim().slice(0, 48) || "Untitled", created: now, updated: now, messages: [] };
    chats.conversations.push(conv);
    chats.current = conv.id;
  }
  conv.messages.push({ role: "user", content: text });
  const msg = { role: "assistant", content: "", state: "streaming" };
  conv.messages.push(msg);
  conv.updated = Date.now();
  persist();

  const controller = new AbortController();
  live = { conv, msg, controller };
  renderAll();

  const body = {
    model: modelId || undefined,
    messages: requestMessages(conv, msg),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (settings.temperature !== null) body.temperature = settings.temperature;
  if (settings.maxTokens !== null) body.max_tokens = settings.maxTokens;

  const start = performance.now();
  let first = null;
  let last = null;
  let firstRead = 0;
  let lastRead = 0;
  let usage = null;
  try {
    await streamChat(body, apiKey, controller.signal, (chunk, read) => {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      const piece = choice && choice.delta && choice.delta.content;
      if (typeof piece === "string" && piece !== "") {
        const now = performance.now();
        if (first === null) {
          first = now;
          firstRead = read;
        }
        last = now;
        lastRead = read;
        msg.content += piece;
        queueRender();
      }
      if (choice && choice.finish_reason) msg.finish = choice.finish_reason;
    });
    msg.state = "done";
    hideNotice();
  } catch (e) {
    if (e.name === "AbortError") {
      msg.state = "stopped";
    } else {
      msg.state = "error";
      msg.error = e.message;
      if (e instanceof ApiError && e.status === 401) {
        showNotice("This server needs an API key: enter it in Settings.", true);
      }
    }
  }
  if (usage) {
    // Speed counts from the first token, so the prompt's reading time and
    // the wait for a slot stay out of it. An answer that arrived in one
    // network read has no such span; it is then timed from the request.
    const n = usage.completion_tokens;
    let tokensPerSecond = 0;
    if (first !== null && lastRead > firstRead && n > 1) tokensPerSecond = (n - 1) / ((last - first) / 1000);
    else if (first !== null && last > start && n > 0) tokensPerSecond = n / ((last - start) / 1000);
    msg.stats = { prompt: usage.prompt_tokens, completion: n, tokensPerSecond };
    if (first !== null) msg.stats.firstTokenMs = Math.round(first - start);
  }
  conv.updated = Date.now();
  live = null;
  persist();
  renderAll();
}

// --- settings ---

function openSettings() {
  ui.system.value = settings.system;
  ui.temperature.value = settings.temperature === null ? "" : String(settings.temperature);
  ui.maxTokens.value = settings.maxTokens === null ? "" : String(settings.maxTokens);
  ui.apiKey.value = apiKey;
  ui.settings.showModal();
}

function saveSettingsForm() {
  const t = ui.temperature.value.trim();
  const n = ui.maxTokens.value.trim();
  settings = {
    system: ui.system.value,
    temperature: t === "" || !Number.isFinite(Number(t)) ? null : Math.min(2, Math.max(0, Number(t))),
    maxTokens: n === "" || !Number.isInteger(Number(n)) || Number(n) < 1 ? null : Number(n),
  };
  store.saveSettings(settings);
  const key = ui.apiKey.value.trim();
  if (key !== apiKey) {
    apiKey = key;
    store.saveApiKey(key);
    loadModel();
  }
  ui.settings.close();
}

async function loadModel() {
  try {
    const models = await listModels(apiKey);
    modelId = models.length ? String(models[0].id) : "";
    ui.model.textContent = modelId;
    hideNotice();
  } catch (e) {
    modelId = "";
    ui.model.textContent = "";
    if (e instanceof ApiError && e.status === 401) showNotice("This server needs an API key: enter it in Settings.", true);
    else showNotice("Cannot reach the server: " + e.message, false);
  }
}

// --- layout on small screens ---

function openSidebar() {
  ui.sidebar.classList.add("open");
  ui.scrim.hidden = false;
  ui.toggle.setAttribute("aria-expanded", "true");
}

function closeSidebar() {
  ui.sidebar.classList.remove("open");
  ui.scrim.hidden = true;
  ui.toggle.setAttribute("aria-expanded", "false");
}

function autosize() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 200) + "px";
}

// --- wiring ---

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.input.value;
  if (live || text.trim() === "") return;
  ui.input.value = "";
  autosize();
  send(text);
});
ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.input.addEventListener("input", autosize);
ui.stop.addEventListener("click", () => live && live.controller.abort());
ui.newChat.addEventListener("click", newConversation);
ui.toggle.addEventListener("click", () => (ui.sidebar.classList.contains("open") ? closeSidebar() : openSidebar()));
ui.scrim.addEventListener("click", closeSidebar);
$("open-settings").addEventListener("click", openSettings);
$("notice-settings").addEventListener("click", openSettings);
$("settings-cancel").addEventListener("click", () => ui.settings.close());
ui.settingsForm.addEventListener("submit", (e) => {
  e.preventDefault();
  saveSettingsForm();
});
ui.messages.addEventListener("click", (e) => {
  const button = e.target.closest("button.copy");
  if (!button) return;
  const code = button.closest(".codeblock").querySelector("code");
  navigator.clipboard.writeText(code.textContent).then(
    () => {
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    },
    () => {
      button.textContent = "Copy failed";
    },
  );
});

renderAll();
loadModel();
