// What the page keeps in the browser's localStorage: the conversations, the
// settings and the API key. Nothing of it is sent anywhere but to this
// server's API.

const CHATS = "lineage.chats";
const SETTINGS = "lineage.settings";
const API_KEY = "lineage.apiKey";

function read(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;  // storage full or disabled: the page still works, unsaved
  }
}

function validMessage(m) {
  return m && (m.role === "user" || m.role === "assistant") && typeof m.content === "string";
}

// {conversations: [{id, title, created, updated, messages}], current}
export function loadChats() {
  const s = read(CHATS);
  const conversations = Array.isArray(s && s.conversations) ? s.conversations : [];
  const kept = conversations
    .filter((c) => c && typeof c.id === "string" && Array.isArray(c.messages))
    .map((c) => ({
      id: c.id,
      title: typeof c.title === "string" ? c.title : "Untitled",
      created: Number(c.created) || 0,
      updated: Number(c.updated) || 0,
      messages: c.messages.filter(validMessage).map((m) => ({ ...m, state: m.state === "streaming" ? "stopped" : m.state })),
    }));
  const current = s && kept.some((c) => c.id === s.current) ? s.current : null;
  return { conversations: kept, current };
}

export function saveChats(chats) {
  return write(CHATS, chats);
}

export function loadSettings() {
  const s = read(SETTINGS) || {};
  return {
    system: typeof s.system === "string" ? s.system : "",
    temperature: typeof s.temperature === "number" ? s.temperature : null,
    maxTokens: Number.isInteger(s.maxTokens) ? s.maxTokens : null,
  };
}

export function saveSettings(s) {
  return write(SETTINGS, s);
}

export function loadApiKey() {
  const k = read(API_KEY);
  return typeof k === "string" ? k : "";
}

export function saveApiKey(k) {
  if (k) return write(API_KEY, k);
  localStorage.removeItem(API_KEY);
  return true;
}
