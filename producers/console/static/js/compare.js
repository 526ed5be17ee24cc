// Compare: one prompt to several providers/models at once, their answers streaming side by side.
// Each answer is a job (POST /v1/jobs) followed over SSE (/v1/jobs/{id}/events); Stop cancels every
// running job (DELETE /v1/jobs/{id}); the final figures come from the job's stored result.
import { api, events } from "./api.js";
import { el } from "./matrix.js";

const DEFAULT_PICKS = 3;
const fmtS = (v) => (v == null ? "–" : `${v.toFixed(2)} s`);

function picker(providers) {
  return el("fieldset", { class: "picks" }, el("legend", {}, "Providers and models"),
    providers.map((p, i) => el("div", { class: "pick" },
      el("input", { type: "checkbox", id: `use-${p.id}`, name: "provider", value: p.id, checked: i < DEFAULT_PICKS }),
      el("label", { for: `use-${p.id}` }, p.name),
      el("label", { for: `model-${p.id}`, class: "sr-only" }, `${p.name} model`),
      el("select", { id: `model-${p.id}`, name: `model-${p.id}` },
        p.models.map((m) => el("option", { value: m, selected: m === p.default_model }, m))))));
}

function card(target) {
  const figures = el("dl", { class: "figs" });
  const status = el("span", { class: "badge k-running" }, "queued");
  const answer = el("div", { class: "answer", "aria-live": "polite", "aria-busy": "true" });
  const node = el("article", { class: "card", "aria-label": target }, el("h2", {}, target), status, answer, figures);
  const show = (values) => figures.replaceChildren(...Object.entries(values).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  show({ "first token": "–", latency: "–", tokens: "–", cost: "–" });
  return { node, status, answer, show, text: "" };
}

function setStatus(view, kind, label) {
  view.status.className = `badge k-${kind}`;
  view.status.textContent = label;
  if (!["running"].includes(kind)) view.answer.setAttribute("aria-busy", "false");
}

async function follow(view, job, started, signal) {
  let first = null;
  let usage = null;
  for await (const { data: m } of events(`/v1/jobs/${encodeURIComponent(job)}/events`, { signal })) {
    if (m.type === "start") {
      setStatus(view, "running", m.attempt > 1 ? `attempt ${m.attempt}` : "streaming");
      if (m.attempt > 1) view.text = "";  // the stream protocol: a later attempt starts the text again
    } else if (m.type === "fallback") setStatus(view, "running", `fallback to ${m.provider}`);
    else if (m.type === "delta") {
      first = first ?? (performance.now() - started) / 1000;
      view.text += m.text;
      view.answer.textContent = view.text;
      view.show({ "first token": fmtS(first), latency: "…", tokens: "…", cost: "…" });
    } else if (m.type === "usage") usage = m.usage;
    else if (m.type === "error") {
      const error = m.error || {};
      setStatus(view, "error", error.code || "error");
      view.answer.textContent = `${view.text}${view.text ? "\n\n" : ""}${error.message || "failed"}`;
    } else if (m.type === "cancelled") setStatus(view, "cancelled", "cancelled");
    else if (m.type === "done") setStatus(view, "pass", "done");
    if (["done", "error", "cancelled"].includes(m.type)) return usage;
  }
  return usage;
}

function finalFigures(view, result) {
  const t = result.timings || {};
  const span = (a, b) => (a != null && b != null ? b - a : null);
  view.show({ "first token": fmtS(span(t.submitted_at, t.first_token_at)), latency: fmtS(span(t.submitted_at, t.finished_at)),
    tokens: `${result.usage.input_tokens} in · ${result.usage.output_tokens} out`, cost: `$${result.cost_usd.toFixed(6)}` });
}

async function runOne(view, body, running, signal) {
  const started = performance.now();
  try {
    const job = await api("/v1/jobs", { method: "POST", body, signal });
    running.add(job.id);
    setStatus(view, "running", "waiting");
    await follow(view, job.id, started, signal);
    const stored = await api(`/v1/jobs/${encodeURIComponent(job.id)}`, { signal });
    if (stored.result) finalFigures(view, stored.result);
    running.delete(job.id);
  } catch (e) {
    if (e.name === "AbortError") return;
    setStatus(view, "error", e.code || "error");
    view.answer.textContent = e.message;
  }
}

function request(form, model) {
  const data = new FormData(form);
  const messages = [];
  if (data.get("system").trim()) messages.push({ role: "system", content: data.get("system") });
  messages.push({ role: "user", content: data.get("prompt") });
  return { model, messages, temperature: Number(data.get("temperature")), max_tokens: Number(data.get("max_tokens")) };
}

export function renderCompare(main) {
  const controller = new AbortController();
  const running = new Set();
  const results = el("section", { class: "cards", "aria-label": "Answers" });
  const note = el("p", { class: "error", role: "alert" });
  const stop = el("button", { type: "button", disabled: true, onclick: async () => {
    await Promise.all([...running].map((id) => api(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(() => null)));
  } }, "Stop");
  const send = async (event) => {
    event.preventDefault();
    const form = event.target;
    const picked = [...form.querySelectorAll("input[name=provider]:checked")].map((c) => `${c.value}/${form.elements[`model-${c.value}`].value}`);
    note.textContent = picked.length ? "" : "Pick at least one provider.";
    if (!picked.length) return;
    const views = picked.map(card);
    results.replaceChildren(...views.map((v) => v.node));
    stop.disabled = false;
    await Promise.all(views.map((v, i) => runOne(v, request(form, picked[i]), running, controller.signal)));
    stop.disabled = true;
  };
  main.replaceChildren(el("h1", {}, "Compare"), el("p", { class: "error" }, "Loading providers…"));
  api("/v1/providers", { signal: controller.signal }).then(({ data }) => {
    const form = el("form", { class: "compare", onsubmit: send },
      el("label", { for: "system" }, "System prompt"), el("textarea", { id: "system", name: "system", rows: 2 }),
      el("label", { for: "prompt" }, "Prompt"),
      el("textarea", { id: "prompt", name: "prompt", rows: 3, required: true }, "Name three rivers in Europe."),
      el("div", { class: "row" },
        el("label", {}, "Temperature ", el("input", { name: "temperature", type: "number", min: 0, max: 2, step: 0.1, value: 0.7 })),
        el("label", {}, "Max tokens ", el("input", { name: "max_tokens", type: "number", min: 1, max: 32000, value: 200 }))),
      picker(data),
      el("div", { class: "row" }, el("button", { type: "submit" }, "Send"), stop), note);
    main.replaceChildren(el("h1", {}, "Compare"), form, results);
  }).catch((e) => { if (e.name !== "AbortError") main.replaceChildren(el("h1", {}, "Compare"), el("p", { class: "error", role: "alert" }, e.message)); });
  return () => controller.abort();
}
