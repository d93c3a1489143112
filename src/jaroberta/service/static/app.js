// The fill-mask page: tokenize + fill-mask through the local JSON API, no external assets.
// Query string: ?text=...&top_k=5&auto=1 fills the form and runs it on load
// (what a headless browser without clicks needs).
"use strict";

const $ = (id) => document.getElementById(id);
const MASK = "[MASK]";

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message || "";
  $("run").disabled = state === "loading";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  setState("error");
}

async function postJson(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`cannot reach the server (${err.message})`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderTokens(tok) {
  $("normalization").textContent = tok.normalization;
  $("normalized").textContent = tok.normalized;
  const chips = $("tokens");
  chips.replaceChildren();
  tok.tokens.forEach((t, i) => {
    const chip = element("span", "chip" + (t.special ? " special" : "") + (t.mask ? " mask" : ""));
    chip.title = `id ${t.id}` + (t.offset ? `, characters ${t.offset[0]}–${t.offset[1]}` : ", special token");
    chip.append(element("span", "text", t.token), element("span", "idx", String(i)));
    chips.append(chip);
  });
  $("tokens-section").hidden = false;
}

// A candidate as it reads in the sentence: SentencePiece's word-start mark and
// WordPiece's continuation mark are tokenizer bookkeeping, not text.
function surface(token) {
  return token.replace(/^\u2581/, "").replace(/^##/, "");
}

// The normalized sentence with each mask replaced by its chosen candidate (the top one
// until another is clicked), the fillers highlighted.
function renderFilled(result, chosen) {
  const box = $("filled");
  box.replaceChildren();
  result.normalized.split(MASK).forEach((part, n) => {
    if (n > 0) {
      const mask = result.masks[n - 1];
      const pick = mask ? mask.candidates[chosen[n - 1]] : null;
      box.append(element("mark", "", pick ? surface(pick.token) || pick.token : MASK));
    }
    box.append(document.createTextNode(part));
  });
}

function renderPredictions(result) {
  const box = $("predictions");
  box.replaceChildren();
  const chosen = result.masks.map(() => 0);
  result.masks.forEach((mask, n) => {
    const card = element("div", "mask-card");
    card.dataset.index = mask.index;
    const title = element("h3", "", `${MASK} #${n + 1}`);
    title.append(element("span", "muted small", ` token ${mask.index}`));
    card.append(title);
    mask.candidates.forEach((c, rank) => {
      const pct = (c.score * 100).toFixed(1) + "%";
      const row = element("button", "candidate" + (rank === 0 ? " chosen" : ""));
      row.type = "button";
      const bar = element("div", "bar");
      const fill = element("span");
      fill.style.width = Math.max(0, Math.min(100, c.score * 100)) + "%";
      bar.append(fill);
      row.title = `id ${c.token_id}, p = ${c.score.toPrecision(4)}; click to put it in the sentence`;
      row.append(element("span", "rank", String(rank + 1)), element("span", "token", c.token), bar, element("span", "pct", pct));
      row.addEventListener("click", () => {
        chosen[n] = rank;
        card.querySelectorAll(".candidate").forEach((r, i) => r.classList.toggle("chosen", i === rank));
        renderFilled(result, chosen);
      });
      card.append(row);
    });
    box.append(card);
  });
  renderFilled(result, chosen);
  $("predictions-section").hidden = false;
}

async function run() {
  const text = $("text").value.trim();
  const topK = parseInt($("top-k").value, 10);
  $("error").hidden = true;
  if (!text) return showError("Type a sentence first.");
  if (!text.includes(MASK)) return showError(`Put ${MASK} where a word should be predicted.`);
  setState("loading", "predicting…");
  try {
    const tok = await postJson("/api/tokenize", { text });
    renderTokens(tok);
    const answer = await postJson("/api/fill-mask", { text, top_k: topK });
    renderPredictions(answer.results[0]);
    setState("done", `top-${topK}, ${answer.results[0].masks.length} mask(s)`);
  } catch (err) {
    showError(err.message);
  }
}

function insertMask() {
  const area = $("text");
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  area.value = area.value.slice(0, start) + MASK + area.value.slice(end);
  area.focus();
  area.selectionStart = area.selectionEnd = start + MASK.length;
}

function ensureTopKOption(value) {
  const select = $("top-k");
  if (![...select.options].some((o) => o.value === value)) select.append(new Option(value, value));
  select.value = value;
}

async function loadInfo() {
  try {
    const response = await fetch("/api/info");
    const info = await response.json();
    const m = info.model;
    $("text").maxLength = info.limits.max_chars;
    const name = m.path.split("/").filter(Boolean).pop() || m.path;
    $("model-info").textContent =
      `${name} · ${info.conventions.name} conventions · ${m.tokenizer_kind} · ${m.architecture} ` +
      `(${m.layers} layers, hidden ${m.hidden_size}) · normalization: ${info.normalization}`;
    $("model-info").title = m.path;
  } catch (err) {
    $("model-info").textContent = "model information unavailable";
  }
}

function init() {
  $("form").addEventListener("submit", (event) => { event.preventDefault(); run(); });
  $("insert-mask").addEventListener("click", insertMask);
  $("top-k").addEventListener("change", () => { if (document.body.dataset.state === "done") run(); });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); run(); }
  });
  const params = new URLSearchParams(window.location.search);
  if (params.has("text")) $("text").value = params.get("text");
  if (params.has("top_k")) ensureTopKOption(params.get("top_k"));
  setState("ready");
  loadInfo();
  if (params.get("auto") === "1") run();
}

init();
